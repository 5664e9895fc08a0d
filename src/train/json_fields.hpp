/// Reading and writing the fields of revode's JSON files (checkpoints, parameter files) with
/// errors that name the file and the field; and the checksum that seals a checkpoint.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "revode/core/error.hpp"
#include "revode/core/json_reading.hpp"
#include "revode/core/types.hpp"

namespace revode::detail {

using Json = nlohmann::ordered_json;

/// Parses `text` as a JSON object; `what` ("checkpoint 'run.ckpt'") prefixes every error.
inline Json parse_json_object(const std::string& text, std::string_view what) {
  const Json doc = parse_json_text<Json>(text, what, "is not valid JSON (truncated or corrupt?)");
  require(doc.is_object(), "{}: expected a JSON object, got {}", what, doc.type_name());
  return doc;
}

/// doc[key], which must exist.
inline const Json& field(const Json& doc, const char* key, std::string_view what) {
  require(doc.contains(key), "{}: the field \"{}\" is missing", what, key);
  return doc[key];
}

/// A list of finite numbers as a vector.
inline Vector<double> numbers(const Json& list, const char* key, std::string_view what) {
  require(list.is_array(), "{}: \"{}\" must be a list of numbers", what, key);
  Vector<double> out(Index(list.size()));
  for (Index i = 0; i < out.size(); ++i) {
    const Json& entry = list[std::size_t(i)];
    // JSON has no NaN or Inf; writers such as nlohmann's turn them into null.
    require(entry.is_number(), "{}: {}[{}] is {}; expected a finite number", what, key, i,
            json_excerpt(entry));
    out[i] = entry.get<double>();
  }
  return out;
}

inline Json number_list(const Vector<double>& v) {
  return Json(std::vector<double>(v.data(), v.data() + v.size()));
}

/// FNV-1a 64 of a document's compact text, as 16 hex digits (detects truncation and edits,
/// not tampering).
inline std::string checksum(const Json& doc) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : doc.dump()) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", hash);
}

}  // namespace revode::detail
