/// The nested-spirals generator and the DEQ classifier's loss and gradient.
#include "revode/deq/classifier.hpp"

#include <cmath>
#include <numbers>
#include <random>

#include "revode/core/allocation_limit.hpp"
#include "revode/core/error.hpp"
#include "revode/core/random.hpp"

namespace revode {

LabelledPoints make_spirals(int classes, Index per_class, double turns, double noise,
                            std::uint64_t seed) {
  require(classes >= 2, "make_spirals: classes = {}; required: classes >= 2", classes);
  require(per_class >= 1, "make_spirals: per_class = {}; required: per_class >= 1", per_class);
  require(std::isfinite(turns) && turns > 0, "make_spirals: turns = {}; required: finite, > 0",
          turns);
  require(std::isfinite(noise) && noise >= 0, "make_spirals: noise = {}; required: finite, >= 0",
          noise);
  // classes × per_class can overflow (UB) before any allocation: check the size first.
  require_memory(
      "make_spirals: per_class", per_class,
      {classes, per_class, Index(2 * sizeof(double) + 2 * sizeof(double) + sizeof(int))});
  const Index points = classes * per_class;
  const std::vector<double> normal = standard_normal(seed, 2 * points);
  LabelledPoints out{Batch<double>(2, points), std::vector<int>(std::size_t(points)), classes};
  for (Index j = 0; j < points; ++j) {
    const int k = int(j % classes);
    const double r = (double(j / classes) + 0.5) / double(per_class);
    const double angle = 2 * std::numbers::pi * (double(k) / classes + turns * r);
    out.x(0, j) = r * std::cos(angle) + noise * normal[std::size_t(2 * j)];
    out.x(1, j) = r * std::sin(angle) + noise * normal[std::size_t(2 * j + 1)];
    out.labels[std::size_t(j)] = k;
  }
  return out;
}

template <class T>
DeqClassifier<T>::DeqClassifier(DeqSpec spec, int classes)
    : layer_(std::move(spec)), classes_(classes) {
  require(classes >= 2, "DeqClassifier: classes = {}; required: classes >= 2", classes);
}

template <class T>
Index DeqClassifier<T>::param_count() const {
  return layer_.param_count() + Index(classes_) * (layer_.state_dim() + 1);
}

template <class T>
Vector<T> DeqClassifier<T>::init_params(std::uint64_t seed,
                                        std::optional<double> contraction) const {
  Vector<T> theta(param_count());
  const Index nf = layer_.param_count();
  theta.head(nf) = layer_.init_params(Init::pytorch_default, seed, contraction);
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);  // a stream apart from θ_f's
  const double bound = 1.0 / std::sqrt(double(layer_.state_dim()));
  for (Index i = nf; i < theta.size(); ++i) {
    const double u = double(rng() >> 11) * 0x1.0p-53;  // as Mlp::init_params maps 53 bits
    theta[i] = T(bound * (2 * u - 1));
  }
  return theta;
}

template <class T>
typename DeqClassifier<T>::Evaluation DeqClassifier<T>::loss_and_gradient(
    const ConstBatchRef<T>& x, const std::vector<int>& labels, const ConstVectorRef<T>& theta,
    const DeqOptions& options) const {
  return run(x, labels, theta, options, true);
}

template <class T>
typename DeqClassifier<T>::Evaluation DeqClassifier<T>::evaluate(const ConstBatchRef<T>& x,
                                                                 const std::vector<int>& labels,
                                                                 const ConstVectorRef<T>& theta,
                                                                 const DeqOptions& options) const {
  DeqOptions forward_only = options;
  if (forward_only.gradient == DeqGradient::backprop) forward_only.gradient = DeqGradient::implicit;
  return run(x, labels, theta, forward_only, false);
}

template <class T>
typename DeqClassifier<T>::Evaluation DeqClassifier<T>::run(const ConstBatchRef<T>& x,
                                                            const std::vector<int>& labels,
                                                            const ConstVectorRef<T>& theta,
                                                            const DeqOptions& options,
                                                            bool with_gradient) const {
  const Index batch = x.cols(), dim = layer_.state_dim(), nf = layer_.param_count();
  require(theta.size() == param_count(), "DeqClassifier: theta has {} entries, expected {}",
          theta.size(), param_count());
  require(Index(labels.size()) == batch, "DeqClassifier: {} labels for {} points", labels.size(),
          batch);
  for (std::size_t j = 0; j < labels.size(); ++j)
    require(labels[j] >= 0 && labels[j] < classes_,
            "DeqClassifier: label {} of point {} is outside [0, {})", labels[j], j, classes_);
  const ConstVectorRef<T> theta_f = theta.head(nf);
  const DeqForward<T> forward = deq_forward(layer_, x, theta_f, options);

  // Logits and softmax in double whatever T is: exp overflows float sooner.
  const Eigen::Map<const Batch<T>> readout(theta.data() + nf, classes_, dim);
  const Eigen::Map<const Vector<T>> bias(theta.data() + nf + classes_ * dim, classes_);
  Batch<double> logits = (readout * forward.z).template cast<double>();
  logits.colwise() += bias.template cast<double>();
  Evaluation out;
  out.stats = forward.stats;
  Index correct = 0;
  for (Index j = 0; j < batch; ++j) {
    auto col = logits.col(j);
    Index best = 0;
    const double top = col.maxCoeff(&best);
    correct += best == labels[std::size_t(j)] ? 1 : 0;
    col = (col.array() - top).exp().matrix();
    const double total = col.sum();
    out.loss -= std::log(col(labels[std::size_t(j)]) / total) / double(batch);
    col /= total * double(batch);                        // p / batch …
    col(labels[std::size_t(j)]) -= 1.0 / double(batch);  // … − onehot / batch = ∂loss/∂logits
  }
  out.accuracy = double(correct) / double(batch);
  if (!with_gradient) return out;

  const Batch<T> logits_bar = logits.template cast<T>();
  const Batch<T> z_bar = readout.transpose() * logits_bar;
  DeqGradientResult<T> g = deq_backward(layer_, forward, x, theta_f, z_bar);
  out.grad.resize(param_count());
  out.grad.head(nf) = g.grad_params;
  Eigen::Map<Batch<T>>(out.grad.data() + nf, classes_, dim) = logits_bar * forward.z.transpose();
  out.grad.tail(classes_) = logits_bar.rowwise().sum();
  out.stats = g.stats;
  return out;
}

template class DeqClassifier<float>;
template class DeqClassifier<double>;

}  // namespace revode
