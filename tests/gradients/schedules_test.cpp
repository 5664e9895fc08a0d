// Checkpoint schedules as pure action streams, without any numerics: every stream is replayed
// on step indices and checked for validity (each reversal at the right state, slots within
// bounds, restores of filled slots), and the recomputation of revolve is checked against the
// closed form t(N, c) and a brute-force dynamic programme.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "revode/core/error.hpp"
#include "revode/gradients/schedules/every_step.hpp"
#include "revode/gradients/schedules/online.hpp"
#include "revode/gradients/schedules/revolve.hpp"

namespace revode {
namespace {

struct Simulation {
  Index recomputed = 0;  ///< advances + tape re-runs after the forward solve
  Index slots_used = 0;  ///< distinct slots ever written
  std::string error;     ///< empty when the stream was valid
};

/// Runs the forward phase (n = 0 … N−1) and the reversal, as the executor would.
Simulation simulate(CheckpointSchedule& schedule, Index steps) {
  using Kind = ScheduleAction::Kind;
  Simulation sim;
  std::map<int, Index> slots;  // slot -> step of the state it holds
  auto fail = [&](const std::string& why) {
    sim.error = why;
    return sim;
  };
  const Index bound = schedule.max_slots();
  auto in_bounds = [&](int slot) { return slot >= 0 && (bound < 0 || slot < bound); };
  for (Index n = 0; n < steps; ++n) {
    const int slot = schedule.on_forward(n);
    if (slot < 0) continue;
    if (!in_bounds(slot)) return fail("forward store out of bounds");
    slots[slot] = n;
  }
  schedule.end_forward(steps);
  Index current = steps - 1, expected = steps - 1;
  bool first = true;
  for (int guard = 0;; ++guard) {
    if (guard > 100'000'000) return fail("no end");
    const ScheduleAction a = schedule.next();
    if (a.kind == Kind::done) break;
    switch (a.kind) {
      case Kind::advance:
        if (current < 0 || a.step <= current || a.step >= steps) return fail("bad advance");
        sim.recomputed += a.step - current;
        current = a.step;
        break;
      case Kind::store:
        if (current < 0 || a.step != current || !in_bounds(a.slot)) return fail("bad store");
        slots[a.slot] = current;
        break;
      case Kind::restore:
        if (!slots.contains(a.slot) || slots[a.slot] != a.step) return fail("bad restore");
        current = a.step;
        break;
      case Kind::reverse:
        if (a.step != expected || current != a.step) return fail("bad reverse");
        if (!first) ++sim.recomputed;
        first = false;
        --expected;
        current = -1;
        break;
      case Kind::done:
        break;
    }
  }
  if (expected != -1) return fail("not every step reversed");
  sim.slots_used = Index(slots.size());
  return sim;
}

TEST(RevolveSchedule, RecomputesTheOptimalNumberOfStepsForOneHundredSteps) {
  for (const auto& [c, optimal] : {std::pair<Index, Index>{2, 845}, {3, 490}, {5, 316}}) {
    EXPECT_EQ(revolve_cost(100, c), optimal);
    Revolve schedule(c, 100);
    const Simulation sim = simulate(schedule, 100);
    EXPECT_EQ(sim.error, "");
    EXPECT_EQ(sim.recomputed, optimal) << "c = " << c;
    EXPECT_LE(sim.slots_used, c);
  }
}

TEST(RevolveSchedule, IsValidAndOptimalForManyStepCountsAndSlotCounts) {
  for (Index c = 1; c <= 12; ++c) {
    for (Index n = 1; n <= 150; ++n) {
      Revolve schedule(c, n);
      const Simulation sim = simulate(schedule, n);
      ASSERT_EQ(sim.error, "") << "N = " << n << ", c = " << c;
      ASSERT_EQ(sim.recomputed, revolve_cost(n, c)) << "N = " << n << ", c = " << c;
      ASSERT_LE(sim.slots_used, c);
    }
  }
  for (const auto& [n, c] : {std::pair<Index, Index>{1000, 2}, {1000, 44}, {5000, 8}}) {
    Revolve schedule(c, n);
    const Simulation sim = simulate(schedule, n);
    ASSERT_EQ(sim.error, "");
    EXPECT_EQ(sim.recomputed, revolve_cost(n, c));
  }
}

TEST(RevolveSchedule, ClosedFormMatchesABruteForceDynamicProgramme) {
  // T(l, c) = min_m [m + T(m, c) + T(l − m, c − 1)], T(1, c) = 0, T(l, 1) = l(l − 1)/2:
  // advance to m, reverse [m, l) with one slot fewer, come back and reverse [0, m).
  constexpr Index kMax = 80, kSlots = 6;
  std::vector<std::vector<Index>> best(kSlots + 1, std::vector<Index>(kMax + 1, 0));
  for (Index c = 1; c <= kSlots; ++c)
    for (Index l = 2; l <= kMax; ++l) {
      if (c == 1) {
        best[c][l] = l * (l - 1) / 2;
        continue;
      }
      Index b = INT64_MAX;
      for (Index m = 1; m < l; ++m) b = std::min(b, m + best[c][m] + best[c - 1][l - m]);
      best[c][l] = b;
      ASSERT_EQ(revolve_cost(l, c), b) << "l = " << l << ", c = " << c;
      const Index m = binomial_split(l, c);
      ASSERT_EQ(m + best[c][m] + best[c - 1][l - m], b) << "split of l = " << l << ", c = " << c;
    }
}

TEST(RevolveSchedule, BinomialHelpersAndBadArguments) {
  EXPECT_EQ(binomial_beta(2, 13), 105);
  EXPECT_EQ(repetition_number(100, 2), 13);
  EXPECT_EQ(repetition_number(100, 5), 4);
  EXPECT_EQ(revolve_cost(1, 3), 0);
  EXPECT_EQ(revolve_cost(10, 1), 45);
  EXPECT_THROW(Revolve(0, 10), Error);
  EXPECT_THROW(Revolve(2, 0), Error);
  Revolve schedule(2, 10);
  for (Index n = 0; n < 9; ++n) schedule.on_forward(n);
  EXPECT_THROW(schedule.end_forward(9), Error);
}

TEST(OnlineSchedule, IsValidForManyStepCountsAndStaysNearTheOfflineOptimum) {
  for (Index c = 1; c <= 10; ++c) {
    for (Index n = 1; n <= 300; n += (n < 40 ? 1 : 7)) {
      OnlineCheckpoints schedule(c);
      const Simulation sim = simulate(schedule, n);
      ASSERT_EQ(sim.error, "") << "N = " << n << ", c = " << c;
      ASSERT_LE(sim.slots_used, c);
      ASSERT_GE(sim.recomputed, revolve_cost(n, c));
      // The worst measured ratio is 1.37 (N = 54, c = 9); it shrinks as N grows.
      if (c >= 2 && n >= 10) {
        EXPECT_LE(double(sim.recomputed), 1.4 * double(revolve_cost(n, c)))
            << "N = " << n << ", c = " << c;
      }
    }
  }
}

TEST(OnlineSchedule, ThinsOutTheCheckpointsOfALongSolve) {
  // A long solve thins the checkpoints out and still stays close to the offline optimum.
  OnlineCheckpoints schedule(4);
  const Simulation sim = simulate(schedule, 1000);
  ASSERT_EQ(sim.error, "");
  EXPECT_LE(double(sim.recomputed), 1.15 * double(revolve_cost(1000, 4)));
  EXPECT_THROW(OnlineCheckpoints(0), Error);
}

TEST(AnodeSchedule, StoresEveryStepAndReRunsEachStepButTheLast) {
  for (Index n : {1, 2, 17}) {
    EveryStep schedule;
    const Simulation sim = simulate(schedule, n);
    ASSERT_EQ(sim.error, "");
    EXPECT_EQ(sim.recomputed, n - 1);
    EXPECT_EQ(sim.slots_used, n);
  }
}

}  // namespace
}  // namespace revode
