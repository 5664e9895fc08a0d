/// Adam (Kingma & Ba 2015, Algorithm 1, with bias correction) and AdamW (Loshchilov & Hutter
/// 2019, Algorithm 2: weight decay decoupled from the adaptive gradient step) on one flat
/// parameter vector; the optimizer state (moments and step count) is plain data for checkpoints.
#pragma once

#include <cstdint>
#include <string_view>

#include "revode/core/types.hpp"

namespace revode {

enum class OptimizerKind {
  adam,   ///< weight decay, if any, is the coupled L2 term: g ← g + wd·θ before the moments
  adamw,  ///< weight decay is decoupled: θ ← θ − lr·wd·θ beside the Adam step
};

/// "adam" or "adamw".
std::string_view optimizer_name(OptimizerKind kind);
/// Parses optimizer_name's output; throws revode::Error listing the valid names.
OptimizerKind parse_optimizer(std::string_view name);

struct AdamOptions {
  OptimizerKind kind = OptimizerKind::adamw;
  double beta1 = 0.9;    ///< decay of the first-moment estimate, in [0, 1)
  double beta2 = 0.999;  ///< decay of the second-moment estimate, in [0, 1)
  double eps = 1e-8;     ///< added to √v̂ (outside the root, as Kingma & Ba, PyTorch and optax)
  double weight_decay = 0.0;  ///< ≥ 0; see OptimizerKind for where it enters
};

/// Throws revode::Error naming the option, its value and the rule it breaks.
void validate(const AdamOptions& options);

/// Everything an update depends on besides θ and g: restoring it continues bit for bit.
struct AdamState {
  Vector<double> m;      ///< first-moment estimate, one entry per parameter
  Vector<double> v;      ///< second-moment estimate, one entry per parameter
  std::int64_t step = 0; ///< updates applied so far (t of the bias correction 1 − βᵗ)
};

/// True when both states hold the same bits (sizes, moments, step).
bool operator==(const AdamState& a, const AdamState& b);

/// The most parameters an Adam takes (the MLP's limit): 2^31, so its moments stay below 32 GiB.
inline constexpr Index kMaxAdamParams = Index{1} << 31;

class Adam {
 public:
  /// Zero moments for `param_count` parameters. Validates options and 0 <= param_count <=
  /// kMaxAdamParams (throws revode::Error).
  Adam(AdamOptions options, Index param_count);

  /// One update with learning rate `lr` (this iteration's value of the schedule):
  ///   t ← t + 1;  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
  ///   θ ← θ − lr · (m/(1 − β1ᵗ)) / (√(v/(1 − β2ᵗ)) + ε)   [− lr · wd · θ for AdamW]
  /// The decoupled decay is multiplied by the scheduled lr, as in PyTorch and optax: it is
  /// Loshchilov & Hutter's η_t λ θ with λ = lr · wd. One fused pass, no allocation.
  /// @param params, grad param_count entries each; grad is not modified.
  /// @throws revode::Error on a size mismatch or unless lr is finite and >= 0 (before any change).
  void step(double lr, VectorRef<double> params, const ConstVectorRef<double>& grad);

  const AdamOptions& options() const { return options_; }
  const AdamState& state() const { return state_; }
  /// Replaces the state (from a checkpoint). Throws revode::Error unless both moments have
  /// param_count entries, are finite with v ≥ 0, and step ≥ 0.
  void restore(AdamState state);

 private:
  AdamOptions options_;
  AdamState state_;
};

}  // namespace revode
