// The memory limit on requests (a named error before allocating, never std::bad_alloc) and
// depth-limited JSON reading.
#include "revode/core/allocation_limit.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "revode/core/chunks_in_flight.hpp"
#include "revode/core/error.hpp"
#include "revode/core/json_reading.hpp"
#include "revode/deq/classifier.hpp"
#include "revode/fields/linear.hpp"
#include "revode/gradients/loss.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/nn/mlp.hpp"
#include "revode/solvers/integrate.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/solvers/save_at.hpp"
#include "support/error_of.hpp"

namespace revode {
namespace {

using testing::error_of;

/// Sets REVODE_MEMORY_LIMIT for one test.
class ScopedLimit {
 public:
  explicit ScopedLimit(const char* value) { ::setenv("REVODE_MEMORY_LIMIT", value, 1); }
  ~ScopedLimit() { ::unsetenv("REVODE_MEMORY_LIMIT"); }
};

TEST(AllocationLimit, ProductIsCheckedForOverflow) {
  std::uint64_t p = 0;
  EXPECT_TRUE(checked_product({3, 4, 8}, p));
  EXPECT_EQ(p, 96u);
  EXPECT_FALSE(checked_product({std::int64_t(1) << 62, 8}, p));
  EXPECT_TRUE(checked_product({std::int64_t(1) << 62, 0}, p));
  EXPECT_EQ(p, 0u);
}

TEST(AllocationLimit, MessageNamesOptionValueBytesAndLimit) {
  const std::string e = error_of([] { require_memory("--batch", 1000, {1000, 1 << 30, 8}); });
  EXPECT_NE(e.find("--batch 1000"), std::string::npos) << e;
  EXPECT_NE(e.find("8589934592000 bytes"), std::string::npos) << e;
  EXPECT_NE(e.find("16.0 GiB"), std::string::npos) << e;
  EXPECT_NE(e.find("REVODE_MEMORY_LIMIT"), std::string::npos) << e;
  EXPECT_NE(error_of([] {
              require_memory("x", 1, {std::int64_t(1) << 62, 8});
            }).find("more than 2^64 bytes"),
            std::string::npos);
  EXPECT_EQ(error_of([] { require_memory("x", 1, {1 << 20, 8}); }), "");
}

TEST(AllocationLimit, EnvironmentSetsTheLimit) {
  {
    ScopedLimit limit("2K");
    EXPECT_EQ(memory_limit(), 2048u);
    EXPECT_NE(error_of([] {
                require_memory("n", 300, {300, 8});
              }).find("above the limit of 2.0 KiB"),
              std::string::npos);
  }
  {
    ScopedLimit limit("12x");
    EXPECT_NE(error_of([] { memory_limit(); }).find("REVODE_MEMORY_LIMIT='12x'"),
              std::string::npos);
  }
  EXPECT_EQ(memory_limit(), default_memory_limit);
}

TEST(AllocationLimit, ChunksInFlightShareTheLimit) {
  ScopedLimit limit("2K");
  EXPECT_EQ(chunks_in_flight(), 1);
  EXPECT_EQ(error_of([] { require_memory("n", 100, {100, 8}); }), "");  // 800 bytes
  {
    const ChunksInFlight three(3);
    EXPECT_EQ(chunks_in_flight(), 3);
    // 3 × 800 bytes > 2 KiB: refused, naming the chunk's need, the count and the total.
    const std::string e = error_of([] { require_memory("n", 100, {100, 8}); });
    EXPECT_NE(e.find("n 100 would need 800 bytes (800 bytes) of memory per chunk"),
              std::string::npos) << e;
    EXPECT_NE(e.find("3 chunks run at once"), std::string::npos) << e;
    EXPECT_NE(e.find("2400 bytes"), std::string::npos) << e;
    EXPECT_NE(e.find("above the limit of 2.0 KiB"), std::string::npos) << e;
    EXPECT_NE(e.find("fewer threads"), std::string::npos) << e;
    {
      const ChunksInFlight nested(2);  // nested parallel work multiplies
      EXPECT_EQ(chunks_in_flight(), 6);
    }
    EXPECT_EQ(chunks_in_flight(), 3);
    EXPECT_EQ(error_of([] { require_memory("n", 80, {80, 8}); }), "");  // 3 × 640 ≤ 2048
  }
  EXPECT_EQ(chunks_in_flight(), 1);
  EXPECT_NE(error_of([] { ChunksInFlight none(0); }).find("0 chunks"), std::string::npos);
}

TEST(AllocationLimit, LibraryEntryPointsCheckBeforeAllocating) {
  // Each of these used to end in std::bad_alloc or a signed overflow (issue #16).
  EXPECT_NE(error_of([] {
              SaveAt::linspace(0, 1, std::numeric_limits<Index>::max());
            }).find("number of save times"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              make_spirals(3, Index(1) << 62, 1.0, 0.0, 0);
            }).find("per_class 4611686018427387904"),
            std::string::npos);
  ScopedLimit limit("1M");
  const LinearField<double> field(2);
  const auto euler = make_stepper<double>("euler");
  const Batch<double> y0 = Batch<double>::Ones(2, 1000);
  const Vector<double> theta = Vector<double>::Zero(field.param_count());
  const SaveAt saves = SaveAt::linspace(0, 1, 100);  // 100 × 2 × 1000 × 8 bytes = 1.6 MB
  EXPECT_NE(error_of([&] {
              solve<double>(field, *euler, FixedSteps{1}, saves, 0, 1, y0, theta);
            }).find("save times 100"),
            std::string::npos);
}

/// An adaptive solve's recorded step times (reversible backprop's, and checkpointing's
/// StepSequence) grow with the solve: the limit holds for them too, checked as the storage
/// doubles, and a limit they fit leaves the gradient bit for bit the same.
TEST(AllocationLimit, AdaptiveStepTimesAreCheckedAsTheyGrow) {
  const Mlp<double> field(parse_mlp_spec("2,8,2"));
  const Vector<double> theta = field.init_params(Init::pytorch_default, 5);
  const auto heun = make_stepper<double>("reversible-heun");
  const Batch<double> y0 = Batch<double>::Constant(2, 1, 0.5);
  const MseZero<double> loss;
  const AdaptiveSteps control{.rtol = 1e-7, .atol = 1e-9, .max_steps = 100000};
  const GradientProblem<double> p{field, *heun, control, SaveAt::final_time(1.0), 0.0, 1.0,
                                  y0,    theta, loss};
  for (const char* method : {"reversible", "checkpoint:4"}) {
    const auto reference = make_gradient_method<double>(method)->compute(p);
    const Index steps = reference.stats.steps;
    ASSERT_GT(steps, 300) << method;    // more times than the 2K limit below holds (256)
    ASSERT_LT(steps, 20000) << method;  // a fast test
    {
      ScopedLimit limit("2K");
      const std::string e = error_of([&] { make_gradient_method<double>(method)->compute(p); });
      EXPECT_NE(e.find("recording the step times of an adaptive solve (255 steps so far) would "
                       "need 4096 bytes"),
                std::string::npos)
          << method << ": " << e;
      EXPECT_NE(e.find("above the limit of 2.0 KiB"), std::string::npos) << e;
      EXPECT_NE(e.find("REVODE_MEMORY_LIMIT"), std::string::npos) << e;
      EXPECT_NE(e.find("loosen rtol/atol"), std::string::npos) << e;
      EXPECT_NE(e.find("fixed steps"), std::string::npos) << e;
    }
    // The storage the N + 1 times grow to: capacity 64, doubled.
    std::uint64_t capacity = 64;
    while (capacity < std::uint64_t(steps + 1)) capacity *= 2;
    const std::string fits = std::to_string(capacity * sizeof(double));
    ScopedLimit limit(fits.c_str());
    const auto r = make_gradient_method<double>(method)->compute(p);
    EXPECT_EQ(r.stats.steps, steps) << method;
    EXPECT_EQ(r.loss, reference.loss) << method;
    EXPECT_TRUE(r.grad_params == reference.grad_params) << method;
    EXPECT_TRUE(r.grad_y0 == reference.grad_y0) << method;
    // Two chunks in flight (parallel_gradient) share that limit: each chunk's times no longer fit.
    const ChunksInFlight two(2);
    const std::string e = error_of([&] { make_gradient_method<double>(method)->compute(p); });
    EXPECT_NE(e.find("per chunk, and 2 chunks run at once"), std::string::npos)
        << method << ": " << e;
    EXPECT_NE(e.find("loosen rtol/atol"), std::string::npos) << e;
  }
}

TEST(JsonReading, DeepNestingIsRefusedWithoutRecursion) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string e = error_of([&] { parse_json_text(deep, "file 'deep.json'"); });
  EXPECT_NE(e.find("file 'deep.json' nests JSON deeper than 64 levels"), std::string::npos) << e;
  const std::string ok = std::string(max_json_depth, '[') + std::string(max_json_depth, ']');
  EXPECT_EQ(error_of([&] { parse_json_text(ok, "ok"); }), "");
}

TEST(JsonReading, MessagesQuoteBoundedExcerpts) {
  const std::string e =
      error_of([] { parse_json_text("{\"a\": " + std::string(5000, '1') + "x}", "f"); });
  EXPECT_NE(e.find("f is not valid JSON"), std::string::npos) << e;
  EXPECT_LT(e.size(), 400u) << e;
  const nlohmann::json big = std::vector<int>(10000, 7);
  EXPECT_LT(json_excerpt(big).size(), 120u);
}

}  // namespace
}  // namespace revode
