#include "revode/core/allocation_limit.hpp"

#include <charconv>
#include <cstdlib>

#include "revode/core/chunks_in_flight.hpp"
#include "revode/core/error.hpp"

namespace revode {
namespace {

thread_local Index in_flight = 1;  ///< chunks_in_flight() of this thread

}  // namespace

Index chunks_in_flight() { return in_flight; }

ChunksInFlight::ChunksInFlight(Index count) : previous_(in_flight) {
  require(count >= 1, "ChunksInFlight: {} chunks; expected at least 1", count);
  in_flight = previous_ * count;
}

ChunksInFlight::~ChunksInFlight() { in_flight = previous_; }

std::uint64_t memory_limit() {
  const char* text = std::getenv("REVODE_MEMORY_LIMIT");
  if (text == nullptr || *text == '\0') return default_memory_limit;
  const std::string_view s(text);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  const std::string_view suffix(end, std::size_t(s.data() + s.size() - end));
  int shift = -1;
  if (suffix.empty())
    shift = 0;
  else if (suffix == "K" || suffix == "k")
    shift = 10;
  else if (suffix == "M")
    shift = 20;
  else if (suffix == "G")
    shift = 30;
  else if (suffix == "T")
    shift = 40;
  require(ec == std::errc{} && end != s.data() && shift >= 0 && value >= 1 &&
              value <= (UINT64_MAX >> shift),
          "REVODE_MEMORY_LIMIT='{}': expected a byte count >= 1 with an optional K, M, G or T "
          "suffix, such as 64G",
          s.substr(0, 40));
  return value << shift;
}

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = double(bytes) / 1024.0;
  int unit = 0;
  while (value >= 1024.0 && unit < 5) value /= 1024.0, ++unit;
  return fmt::format("{:.1f} {}", value, units[unit]);
}

bool checked_product(std::initializer_list<std::int64_t> factors, std::uint64_t& product) {
  product = 1;
  bool fits = true;
  for (const std::int64_t f : factors) {
    if (f <= 0) {  // zero (or a negative size, rejected elsewhere) needs nothing
      product = 0;
      return true;
    }
    fits = fits && !__builtin_mul_overflow(product, std::uint64_t(f), &product);
  }
  return fits;
}

void require_memory(std::string_view option, std::string_view value,
                    std::initializer_list<std::int64_t> factors) {
  require_memory(option, value, factors, "");
}

void require_memory(std::string_view option, std::string_view value,
                    std::initializer_list<std::int64_t> factors, std::string_view remedy) {
  std::uint64_t bytes = 0, total = 0;
  const Index chunks = chunks_in_flight();
  const bool chunk_fits = checked_product(factors, bytes);
  const bool fits = chunk_fits && !__builtin_mul_overflow(bytes, std::uint64_t(chunks), &total);
  const std::uint64_t limit = memory_limit();
  if (fits && total <= limit) return;
  const auto amount = [](bool known, std::uint64_t b) {
    return known ? fmt::format("{} bytes ({})", b, format_bytes(b))
                 : std::string("more than 2^64 bytes");
  };
  if (chunks == 1)
    throw Error(fmt::format(
        "{} {} would need {} of memory, above the limit of {} (set REVODE_MEMORY_LIMIT, e.g. "
        "REVODE_MEMORY_LIMIT=64G, to raise it{})",
        option, value.substr(0, 40), amount(fits, bytes), format_bytes(limit), remedy));
  // Parallel chunks: each needs `bytes`, and `chunks` of them are held at once.
  throw Error(fmt::format(
      "{} {} would need {} of memory per chunk, and {} chunks run at once (one per thread): {} "
      "in all, above the limit of {} (set REVODE_MEMORY_LIMIT, e.g. REVODE_MEMORY_LIMIT=64G, "
      "to raise it, or use fewer threads{})",
      option, value.substr(0, 40), amount(chunk_fits, bytes), chunks, amount(fits, total),
      format_bytes(limit), remedy));
}

}  // namespace revode
