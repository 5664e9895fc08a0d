/// Reading JSON that came from outside (parameter files, configs, checkpoints) without
/// trusting its shape: a nesting-depth limit (serialising or comparing a document recurses
/// once per level, so a hostile `[[[[…]]]]` must be refused while parsing, which itself does
/// not recurse), and short excerpts for error messages. Needs nlohmann_json (revode's own
/// sources and the CLI include it; no other public header does).
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "revode/core/error.hpp"

namespace revode {

/// Deeper nesting is refused: revode's own files are at most four levels deep.
inline constexpr int max_json_depth = 64;

/// At most `limit` characters of `text`, with "…" when cut: messages quote, never dump.
inline std::string excerpt(std::string_view text, std::size_t limit = 80) {
  if (text.size() <= limit) return std::string(text);
  return fmt::format("{}… ({} characters)", text.substr(0, limit), text.size());
}

/// A bounded excerpt of a (depth-limited) JSON value, for error messages.
template <class Json>
std::string json_excerpt(const Json& value, std::size_t limit = 80) {
  return excerpt(value.dump(), limit);
}

/// Parses `text`; throws revode::Error starting with `what` when it nests deeper than
/// max_json_depth, or "{what} {invalid}: {nlohmann's message}" (line and column, in bounded
/// length) when it is not JSON.
template <class Json = nlohmann::json>
Json parse_json_text(std::string_view text, std::string_view what,
                     std::string_view invalid = "is not valid JSON") {
  const auto limit_depth = [&](int depth, nlohmann::json::parse_event_t, Json&) {
    if (depth > max_json_depth)
      throw Error(
          fmt::format("{} nests JSON deeper than {} levels; refusing to read it (a "
                      "revode file is a few levels deep: truncated or corrupt?)",
                      what, max_json_depth));
    return true;
  };
  try {
    return Json::parse(text, limit_depth);
  } catch (const nlohmann::json::exception& e) {  // syntax errors, numbers out of range
    throw Error(fmt::format("{} {}: {}", what, invalid, excerpt(e.what(), 200)));
  }
}

}  // namespace revode
