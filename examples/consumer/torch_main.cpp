// Integrates y' = module(t, y) for a saved TorchScript module (docs/torch-field.md) through the
// installed revode::torch component. Usage: consumer_torch MODULE.pt
#include <cstdio>

#include "revode/core/error.hpp"
#include "revode/gradients/reversible_backprop.hpp"
#include "revode/solvers/registry.hpp"
#include "revode/torch/torch_field.hpp"

int main(int argc, char** argv) {
  using namespace revode;
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer_torch MODULE.pt\n");
    return 2;
  }
  try {
    const TorchField<double> field(argv[1]);
    const auto stepper = make_stepper<double>("reversible:midpoint");
    MseZero<double> loss;
    const GradientProblem<double> problem{field,
                                          *stepper,
                                          FixedSteps{100},
                                          SaveAt::every_step(),
                                          0.0,
                                          1.0,
                                          Batch<double>::Ones(field.state_dim(), 1),
                                          field.initial_params(),
                                          loss};
    const auto result = ReversibleBackprop<double>().compute(problem);
    std::printf("%s: loss %.9g, |dL/dtheta| %.6g (%ld parameters)\n", field.name().c_str(),
                result.loss, result.grad_params.norm(), long(field.param_count()));
  } catch (const Error& e) {
    std::fprintf(stderr, "consumer_torch: %s\n", e.what());
    return 2;
  }
}
