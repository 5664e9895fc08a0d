/// One check of a request's size before anything is allocated for it. A size given as input
/// (a batch, a number of save times, training iterations, data points) becomes a named error
/// saying how much memory it would need, instead of std::bad_alloc or an out-of-memory kill
/// long after the run started.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace revode {

/// Default limit on the bytes one request may imply: 16 GiB.
inline constexpr std::uint64_t default_memory_limit = std::uint64_t(16) << 30;

/// The bytes one request may imply: the environment variable REVODE_MEMORY_LIMIT (a byte
/// count with an optional K, M, G or T suffix, powers of 1024: "64G"), else 16 GiB.
/// Throws revode::Error when the variable is set but is not such a count.
std::uint64_t memory_limit();

/// "12.0 GiB" (or "123 bytes"): a byte count for people.
std::string format_bytes(std::uint64_t bytes);

/// The product of `factors` (each >= 0), or nothing when it exceeds 2^64 − 1.
bool checked_product(std::initializer_list<std::int64_t> factors, std::uint64_t& product);

/// Throws revode::Error when the product of `factors` (the bytes a request implies, e.g.
/// {saves, dim, batch, sizeof(T)}) exceeds memory_limit(); the message names `option`, its
/// `value`, the bytes and the limit. Negative factors count as 0 (their own checks reject
/// them with a better message).
void require_memory(std::string_view option, std::string_view value,
                    std::initializer_list<std::int64_t> factors);

/// As above, with `remedy` added to the message's advice (after "to raise it"): for a size
/// that is not an option but grows during a solve, such as adaptive steps' recorded times.
void require_memory(std::string_view option, std::string_view value,
                    std::initializer_list<std::int64_t> factors, std::string_view remedy);

template <class Value>
void require_memory(std::string_view option, const Value& value,
                    std::initializer_list<std::int64_t> factors) {
  require_memory(option, std::string_view(fmt::format("{}", value)), factors);
}

}  // namespace revode
