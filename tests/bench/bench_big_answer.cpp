// Peak memory of one large answer: a loopback server sends a chat answer whose text is N MB, and
// openai_backend reads it. Run under /usr/bin/time -v and read "Maximum resident set size":
//   /usr/bin/time -v ./build/dev/tests/bench/bench_big_answer 100        (default limit: refused)
//   /usr/bin/time -v ./build/dev/tests/bench/bench_big_answer 100 128    (limit raised to 128 MiB)
// The server's copy of the body is built before the client starts and is counted in the peak; the
// figure printed as "server body" is subtracted in the report (docs/error_handling.md).
#include <selfalign/backends/openai.hpp>

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  const std::size_t mb = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100;
  const std::size_t limit_mib = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 0;
  std::string body = R"({"choices":[{"index":0,"message":{"role":"assistant","content":")";
  body.append(mb << 20, 'x');
  body += R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}})";
  body.shrink_to_fit();
  httplib::Server server;
  server.Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(body.size(), "application/json", [&](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
      sink.write(body.data() + offset, std::min<std::size_t>(length, std::size_t{1} << 20));
      return true;
    });
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  selfalign::openai_options o;
  o.base_urls = {"http://127.0.0.1:" + std::to_string(port) + "/v1"};
  o.model = "m";
  o.preset = selfalign::server_preset::vllm;
  o.api_key_env = "";
  o.retry.max_retries = 0;
  if (limit_mib) o.max_answer_bytes = limit_mib << 20;
  selfalign::openai_backend llm(o);
  selfalign::generation_request req;
  req.prompt = selfalign::prompt::chat({selfalign::message::user("hi")});
  const auto start = std::chrono::steady_clock::now();
  auto g = llm.generate(req);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("server body: %zu bytes; limit: %zu bytes; %s in %.2f s\n", body.size(), o.max_answer_bytes,
              g ? ("read " + std::to_string(g->text().size()) + " bytes of text").c_str() : g.error().message.c_str(), s);
  server.stop();
  t.join();
  return 0;
}
