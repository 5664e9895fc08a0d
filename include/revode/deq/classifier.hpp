/// A DEQ classifier, logits = R z*(x) + c with z* = f_θ(z*, x), trained by softmax cross-entropy
/// with any DeqGradient, and the synthetic nested-spirals task `revode deq train` learns.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "revode/deq/deq_gradient.hpp"
#include "revode/deq/deq_layer.hpp"
#include "revode/deq/fixed_point.hpp"

namespace revode {

/// Labelled points: x is 2 × points, labels[j] ∈ [0, classes).
struct LabelledPoints {
  Batch<double> x;
  std::vector<int> labels;
  int classes = 0;
};

/// `classes` interleaved spiral arms around the origin, `per_class` points each: point i of arm
/// k sits at radius r = (i + ½)/per_class and angle 2πk/classes + turns·2π·r, plus isotropic
/// Gaussian noise of standard deviation `noise` (core/random.hpp's seeded normals). Points are
/// interleaved by class (column j has label j mod classes). Needs classes ≥ 2, per_class ≥ 1,
/// turns > 0, noise ≥ 0; throws revode::Error otherwise.
LabelledPoints make_spirals(int classes, Index per_class, double turns, double noise,
                            std::uint64_t seed);

/// θ = [θ_f (the DeqLayer's) | R (classes × state_dim, column-major) | c (classes)].
template <class T>
class DeqClassifier {
 public:
  /// Validates spec; throws revode::Error unless classes ≥ 2.
  DeqClassifier(DeqSpec spec, int classes);

  const DeqLayer<T>& layer() const { return layer_; }
  int classes() const { return classes_; }
  Index param_count() const;

  /// θ_f from DeqLayer::init_params (contraction as there), R, c ~ U(±1/√state_dim).
  Vector<T> init_params(std::uint64_t seed, std::optional<double> contraction = 0.5) const;

  struct Evaluation {
    double loss = 0;      ///< mean softmax cross-entropy
    double accuracy = 0;  ///< fraction of argmax logits equal to the label
    Vector<T> grad;       ///< ∂loss/∂θ (empty from `evaluate`)
    DeqStats stats;       ///< the DEQ's forward (and backward) statistics
  };

  /// Forward, loss and ∂loss/∂θ with options.gradient. x: input_dim × batch.
  /// @throws revode::Error on bad shapes, labels out of range, or DEQ errors.
  Evaluation loss_and_gradient(const ConstBatchRef<T>& x, const std::vector<int>& labels,
                               const ConstVectorRef<T>& theta, const DeqOptions& options) const;
  /// Forward, loss and accuracy only (options.gradient is ignored: no tape is kept).
  Evaluation evaluate(const ConstBatchRef<T>& x, const std::vector<int>& labels,
                      const ConstVectorRef<T>& theta, const DeqOptions& options) const;

 private:
  Evaluation run(const ConstBatchRef<T>& x, const std::vector<int>& labels,
                 const ConstVectorRef<T>& theta, const DeqOptions& options,
                 bool with_gradient) const;

  DeqLayer<T> layer_;
  int classes_;
};

extern template class DeqClassifier<float>;
extern template class DeqClassifier<double>;

}  // namespace revode
