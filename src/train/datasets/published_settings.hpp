/// The settings every published experiment shares (ALGORITHMS.md §6: float64, AdamW with
/// lr 1e-2 and weight decay 1e-5, loss = MSE over all saved points), for the dataset loaders.
#pragma once

#include <string>
#include <vector>

#include "revode/train/train_settings.hpp"

namespace revode::detail {

/// An MLP widths[0] → … tanh … → widths.back() on `dataset`, AdamW lr 1e-2 wd 1e-5, constant
/// schedule, no clipping, method "reversible", seed 0; solver and steps are the caller's.
inline TrainSettings published_settings(std::string dataset, std::vector<Index> widths,
                                        bool time_input, Index iterations) {
  TrainSettings s;
  s.dataset = std::move(dataset);
  s.model = MlpSpec{std::move(widths), Activation::tanh, time_input};
  s.optimizer = AdamOptions{.kind = OptimizerKind::adamw, .weight_decay = 1e-5};
  s.lr = 1e-2;
  s.iterations = iterations;
  return s;
}

}  // namespace revode::detail
