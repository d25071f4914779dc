// selfalign CLI: the built-in offline models behind --backend simulated
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/testing/scripted_generator.hpp>

#include <string>

namespace cli {

/// A deterministic stand-in for a chat model, so that every command can be tried without a
/// server. Its answers say that they are simulated. It refuses prompts that mention weapons or
/// hacking when its system prompt asks for safety, and keeps answers short when asked to be brief,
/// which is enough for the demo to show DRPO's prompts changing behaviour.
struct simulated_assistant {
  static constexpr const char* model_name = "selfalign-simulated";

  [[nodiscard]] selfalign::result<selfalign::generation> generate(const selfalign::generation_request& req) const {
    std::string system, user;
    if (req.prompt.is_chat()) {
      for (const auto& m : req.prompt.messages()) (m.role == "system" ? system : user) += m.content;
    } else {
      user = req.prompt.flatten();
    }
    const auto lower = [](std::string s) {
      for (char& ch : s) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
      return s;
    };
    const std::string sys = lower(system), ask = lower(user);
    const bool risky = ask.find("weapon") != std::string::npos || ask.find("hack") != std::string::npos ||
                       ask.find("steal") != std::string::npos;
    const bool careful = sys.find("safe") != std::string::npos || sys.find("harm") != std::string::npos;
    const bool brief = sys.find("brief") != std::string::npos || sys.find("concise") != std::string::npos;
    std::string text;
    if (risky && careful) {
      text = "[simulated] I can't help with that, but I can point you to safe, legal resources.";
    } else if (risky) {
      text = "[simulated] Sure, here is how you could do that: step one, ...";
    } else {
      std::string topic = user.substr(0, 80);
      text = brief ? "[simulated] In short: " + topic
                   : "[simulated] Here is a detailed answer about \"" + topic + "\". First, the background. Second, the key points. Third, an example.";
    }
    selfalign::generation g;
    g.model = model_name;
    const int n = req.sampling.n < 1 ? 1 : req.sampling.n;
    for (int i = 0; i < n; ++i) g.choices.push_back({text, {}, {}, "stop"});
    g.usage.prompt_tokens = selfalign::testing::count_words(user) + selfalign::testing::count_words(system);
    g.usage.completion_tokens = selfalign::testing::count_words(text) * n;
    g.usage.requests = 1;
    return g;
  }
};

}  // namespace cli
