// SDE training (docs/training.md "SDEs"): iteration i's loss and gradient are those of the SDE
// over the Brownian tree of sde_sample_seed(brownian_seed, i, chunk), θ = [θ_f; θ_g], and a
// restored state redraws the same sample.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "revode/core/error.hpp"
#include "revode/gradients/loss.hpp"
#include "revode/gradients/registry.hpp"
#include "revode/sde/brownian_tree.hpp"
#include "revode/sde/drift_diffusion.hpp"
#include "revode/sde/sde_steppers.hpp"
#include "revode/train/trainer.hpp"
#include "support/error_of.hpp"

namespace revode {
namespace {

TrainSettings sde_settings() {
  TrainSettings s;
  s.dataset = "ensemble:van-der-pol:3";
  s.model = MlpSpec{.widths = {2, 8, 2}};
  s.solver = "reversible-heun";
  s.method = "reversible";
  s.control = FixedSteps{16, 0.0};
  s.iterations = 4;
  s.lr = 1e-2;
  s.diffusion = "mlp:2,6,2";
  s.noise = "diagonal";
  s.brownian_seed = 11;
  return s;
}

/// The loss and gradient of the SDE at θ for the tree seeded `seed`, built by hand.
GradientResult<double> by_hand(const Dataset& d, const TrainSettings& s,
                               const Vector<double>& theta, std::int64_t seed) {
  const Mlp<double> drift(s.model);
  DiffusionBuild<double> g =
      make_diffusion<double>(s.diffusion, NoiseType::diagonal, 2, s.model.activation, s.seed + 1);
  DriftDiffusion<double> sde(drift.clone(), std::move(g.diffusion), NoiseType::diagonal,
                             g.noise_dim);
  auto tree = std::make_shared<const BrownianTree>(d.times.front(), d.times.back(), 2, seed);
  const auto stepper =
      make_sde_stepper<double>(s.solver, SolverOptions{s.coupling, 1.0}, tree, sde);
  Batch<double> y0(2, d.trajectories());
  std::vector<Batch<double>> data(std::size_t(d.points()), Batch<double>(2, d.trajectories()));
  for (Index j = 0; j < d.trajectories(); ++j) {
    y0.col(j) = d.trajectory(j).col(0);
    for (Index k = 0; k < d.points(); ++k) data[std::size_t(k)].col(j) = d.trajectory(j).col(k);
  }
  const MseData<double> loss(std::move(data));
  SaveAt save_at;
  save_at.ts = d.times;
  const GradientProblem<double> problem{
      sde, *stepper, s.control, save_at, d.times.front(), d.times.back(), y0, theta, loss};
  return make_gradient_method<double>(s.method)->compute(problem);
}

TEST(TrainerSde, EachIterationIsTheSdeOverItsOwnBrownianSample) {
  const TrainSettings s = sde_settings();
  Dataset d = make_dataset(s.dataset);
  Trainer trainer(make_dataset(s.dataset), s);
  ASSERT_TRUE(trainer.is_sde());
  EXPECT_EQ(trainer.param_count(), trainer.model().param_count() + (2 * 6 + 6 + 6 * 2 + 2));
  for (Index i = 0; i < 2; ++i) {
    const Vector<double> theta = trainer.params();
    const double loss = trainer.step();
    const GradientResult<double> expected =
        by_hand(d, s, theta, sde_sample_seed(s.brownian_seed, i, 0));
    EXPECT_EQ(loss, expected.loss) << "iteration " << i;
    // The Adam step moved θ_g too: the diffusion is trained.
    const Index nf = trainer.model().param_count();
    EXPECT_GT(expected.grad_params.tail(theta.size() - nf).norm(), 0);
    EXPECT_NE((trainer.params() - theta).tail(theta.size() - nf).norm(), 0);
    // Another iteration's sample gives another loss at the same θ.
    EXPECT_NE(expected.loss, by_hand(d, s, theta, sde_sample_seed(s.brownian_seed, i + 1, 0)).loss);
  }
}

TEST(TrainerSde, ARestoredStateRedrawsTheSameSample) {
  const TrainSettings s = sde_settings();
  Trainer a(make_dataset(s.dataset), s);
  a.step();
  const TrainState middle = a.state();
  a.step();
  a.step();
  Trainer b(make_dataset(s.dataset), s);
  b.restore(middle);
  b.step();
  b.step();
  EXPECT_TRUE(a.state() == b.state());
}

TEST(TrainerSde, SampleSeedsDifferAndStayInRange) {
  std::set<std::int64_t> seen;
  for (Index i = 0; i < 100; ++i)
    for (Index c = 0; c < 3; ++c) {
      const std::int64_t seed = sde_sample_seed(kMaxBrownianSeed, i, c);
      EXPECT_GE(seed, 0);
      seen.insert(seed);
    }
  EXPECT_EQ(seen.size(), 300u);
  EXPECT_NE(sde_sample_seed(0, 1, 0), sde_sample_seed(1, 0, 0));
}

TEST(TrainerSde, NamedErrorsForBadCombinations) {
  TrainSettings s = sde_settings();
  s.control = AdaptiveSteps{.rtol = 1e-2, .atol = 1e-2};
  EXPECT_NO_THROW(validate(s));  // adaptive reversible Heun: its estimate sees the noise
  s.solver = "euler";
  s.method = "backprop";  // euler has no estimate: refused before the first iteration
  EXPECT_NE(testing::error_of([&] { Trainer(make_dataset(s.dataset), s); })
                .find("SDE solver 'euler (SDE)' has no error estimate"),
            std::string::npos);
  s = sde_settings();
  s.diffusion.clear();
  s.noise = "scalar";
  EXPECT_THROW(validate(s), Error);
  s = sde_settings();
  s.diffusion = "mlp:3,4,3";  // the drift's state is 2-d
  EXPECT_THROW(Trainer(make_dataset(s.dataset), s), Error);
}

}  // namespace
}  // namespace revode
