/// Binomial checkpointing: the closed forms and the recursive reversal (see revolve.hpp).
#include "revode/gradients/schedules/revolve.hpp"

#include <fmt/format.h>

#include "revode/core/error.hpp"

namespace revode {
namespace {

constexpr Index kSaturated = Index(1) << 62;

/// r(x, c): the slope of t(·, c) on (x − 1, x], i.e. the repetition number of x steps.
Index slope(Index x, Index c) { return x <= 1 ? 0 : repetition_number(x, c); }

}  // namespace

Index binomial_beta(Index c, Index r) {
  // C(c + i, i) = C(c + i − 1, i − 1) · (c + i) / i, exact at every i.
  Index b = 1;
  for (Index i = 1; i <= r; ++i) {
    if (b > kSaturated / (c + i)) return kSaturated;
    b = b * (c + i) / i;
  }
  return b;
}

Index repetition_number(Index steps, Index c) {
  require(steps >= 1 && c >= 1, "repetition_number({}, {}): required steps >= 1, c >= 1", steps,
          c);
  if (c == 1) return steps - 1;  // β(1, r) = r + 1
  Index r = 0;
  for (Index b = 1; b < steps; ++r) b = b > kSaturated / (c + r + 1) ? kSaturated : b * (c + r + 1) / (r + 1);
  return r;
}

Index revolve_cost(Index steps, Index c) {
  if (steps <= 1) return 0;
  const Index r = repetition_number(steps, c);
  return r * steps - binomial_beta(c + 1, r - 1);
}

Index binomial_split(Index steps, Index c) {
  require(steps >= 2 && c >= 2, "binomial_split({}, {}): required steps >= 2, c >= 2", steps, c);
  // g(m) = m + t(m, c) + t(steps − m, c − 1) is convex; its right derivative
  // 1 + r(m + 1, c) − r(steps − m, c − 1) is non-decreasing in m and ≥ 1 at m = steps − 1.
  Index lo = 1, hi = steps - 1;
  while (lo < hi) {
    const Index m = lo + (hi - lo) / 2;
    if (1 + slope(m + 1, c) - slope(steps - m, c - 1) >= 0) hi = m;
    else lo = m + 1;
  }
  return lo;
}

void BinomialReversal::start(Index a, Index b, int slot_a, std::vector<int> free,
                             bool restore_first) {
  require(a < b && finished(), "BinomialReversal::start: empty range or previous one unfinished");
  free_ = std::move(free);
  frames_.push_back({a, b, Index(free_.size()) + 1, slot_a, restore_first});
}

void BinomialReversal::expand(const Frame& fr) {
  using Kind = ScheduleAction::Kind;
  if (fr.restore) emit({Kind::restore, fr.a, fr.slot_a});
  const Index length = fr.b - fr.a;
  if (length == 1) {
    emit({Kind::reverse, fr.a});
  } else if (fr.c == 1) {
    // No slot to spare: reach the last step from x_a, reverse it, start again from x_a.
    emit({Kind::advance, fr.b - 1});
    emit({Kind::reverse, fr.b - 1});
    frames_.push_back({fr.a, fr.b - 1, 1, fr.slot_a, true});
  } else {
    const Index m = fr.a + binomial_split(length, fr.c);
    const int slot_m = free_[std::size_t(fr.c - 2)];
    emit({Kind::advance, m});
    emit({Kind::store, m, slot_m});
    // Stack order: [m, b) with one slot fewer runs first, then [a, m) from a restored x_a.
    frames_.push_back({fr.a, m, fr.c, fr.slot_a, true});
    frames_.push_back({m, fr.b, fr.c - 1, slot_m, false});
  }
}

ScheduleAction BinomialReversal::next() {
  if (taken_ == queued_) {
    require(!frames_.empty(), "BinomialReversal::next past the end");
    queued_ = taken_ = 0;
    const Frame frame = frames_.back();
    frames_.pop_back();
    expand(frame);
  }
  return queue_[taken_++];
}

Revolve::Revolve(Index slots, Index steps) : slots_(slots), steps_(steps) {
  require(slots >= 1, "revolve: {} checkpoint slots; required: >= 1", slots);
  require(steps >= 1, "revolve: {} steps; required: >= 1", steps);
  // Slot 0 holds x_0; the frame with c slots stores into free[c − 2] = slot (slots − c + 1),
  // so the slots fill from 1 upwards as the recursion deepens.
  std::vector<int> free;
  for (Index s = slots - 1; s >= 1; --s) free.push_back(int(s));
  forward_stores_.emplace_back(0, 0);
  reversal_.start(0, steps, 0, std::move(free), false);
  // The first forward sweep (advances and stores up to the first reverse) is the forward
  // solve itself: record where it stores.
  Index current = 0;
  for (;;) {
    const ScheduleAction a = reversal_.next();
    if (a.kind == ScheduleAction::Kind::advance) current = a.step;
    else if (a.kind == ScheduleAction::Kind::store) forward_stores_.emplace_back(current, a.slot);
    else {
      first_reverse_ = a;
      break;
    }
  }
  require(first_reverse_.kind == ScheduleAction::Kind::reverse && first_reverse_.step == steps - 1,
          "revolve: the first sweep must end at the last step");
}

std::string Revolve::name() const { return fmt::format("revolve(c = {}, N = {})", slots_, steps_); }

int Revolve::on_forward(Index n) {
  if (next_store_ < forward_stores_.size() && forward_stores_[next_store_].first == n)
    return forward_stores_[next_store_++].second;
  return -1;
}

void Revolve::end_forward(Index steps) {
  require(steps == steps_, "revolve: planned for {} steps but the solve took {}", steps_, steps);
}

ScheduleAction Revolve::next() {
  if (!first_taken_) {
    first_taken_ = true;
    return first_reverse_;
  }
  if (reversal_.finished()) return {ScheduleAction::Kind::done};
  return reversal_.next();
}

}  // namespace revode
