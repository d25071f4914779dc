// Peak memory of one large answer: a loopback server sends a chat answer whose text is N MB, and
// openai_backend reads it.
//   ./build/rel/tests/bench/bench_big_answer 100        (default limit: refused)
//   ./build/rel/tests/bench/bench_big_answer 100 128    (limit raised to 128 MiB)
//   ./build/rel/tests/bench/bench_big_answer 100 128 stream   (generate_stream: 64 KiB SSE deltas)
// The server runs in a forked child process, so its copy of the body is not in the figure: the
// program prints its own peak resident set (getrusage, RUSAGE_SELF: the client alone) and what the
// call added to it (docs/error_handling.md). /usr/bin/time -v would report the larger of the two
// processes, which may be the server.
#include <selfalign/backends/openai.hpp>

#include <httplib.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

// The resident set now, in KiB (/proc/self/status VmRSS).
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

// The peak resident set of this process alone, in KiB.
long peak_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

[[noreturn]] void serve(std::size_t mb, bool stream, int ready_fd) {
  std::string body;
  if (stream) {  // SSE: 64 KiB deltas, then a finish and [DONE]
    const std::string delta = R"(data: {"choices":[{"index":0,"delta":{"content":")" + std::string(std::size_t{64} << 10, 'x') + "\"}}]}\n\n";
    body.reserve((mb << 4) * delta.size() + 256);
    for (std::size_t i = 0; i < (mb << 4); ++i) body += delta;
    body += "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
  } else {
    body = R"({"choices":[{"index":0,"message":{"role":"assistant","content":")";
    body.append(mb << 20, 'x');
    body += R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}})";
  }
  httplib::Server server;
  server.Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(body.size(), stream ? "text/event-stream" : "application/json",
                             [&](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               sink.write(body.data() + offset, std::min<std::size_t>(length, std::size_t{1} << 20));
                               return true;
                             });
  });
  const int port = server.bind_to_any_port("127.0.0.1");  // listening from here on
  if (write(ready_fd, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) _exit(1);
  close(ready_fd);
  server.listen_after_bind();
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t mb = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100;
  const std::size_t limit_mib = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 0;
  const bool stream = argc > 3 && std::string(argv[3]) == "stream";
  int fds[2];
  if (pipe(fds) != 0) return 1;
  const pid_t server = fork();
  if (server < 0) return 1;
  if (server == 0) {
    close(fds[0]);
    serve(mb, stream, fds[1]);
  }
  close(fds[1]);
  int port = 0;
  if (read(fds[0], &port, sizeof port) != static_cast<ssize_t>(sizeof port) || port <= 0) {
    std::fprintf(stderr, "the server did not start\n");
    return 1;
  }
  close(fds[0]);

  selfalign::openai_options o;
  o.base_urls = {"http://127.0.0.1:" + std::to_string(port) + "/v1"};
  o.model = "m";
  o.preset = selfalign::server_preset::vllm;
  o.api_key_env = "";
  o.retry.max_retries = 0;
  if (limit_mib) o.max_answer_bytes = limit_mib << 20;
  int status = 0;
  {
    selfalign::openai_backend llm(o);
    selfalign::generation_request req;
    req.prompt = selfalign::prompt::chat({selfalign::message::user("hi")});
    const long before = rss_kib();
    const auto start = std::chrono::steady_clock::now();
    auto g = stream ? llm.generate_stream(req, [](const selfalign::stream_chunk&) { return true; }) : llm.generate(req);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const long peak = peak_kib();
    const double answer_mib = static_cast<double>(mb);
    std::printf("answer text: %zu MiB%s; limit: %zu bytes; %s in %.2f s\n", mb, stream ? " (streamed)" : "", o.max_answer_bytes,
                g ? ("read " + std::to_string(g->text().size()) + " bytes of text").c_str() : g.error().message.c_str(), s);
    std::printf("client: peak RSS %.1f MiB, %.1f MiB before the call: the call added %.1f MiB (%.2f x the answer); "
                "%.1f MiB held after it\n",
                peak / 1024.0, before / 1024.0, (peak - before) / 1024.0, answer_mib > 0 ? (peak - before) / 1024.0 / answer_mib : 0.0,
                rss_kib() / 1024.0);
    status = g || !limit_mib ? 0 : 1;
  }
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  return status;
}
