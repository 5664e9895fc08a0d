/// DriftDiffusion and the three diffusion kinds of its spec language (see drift_diffusion.hpp).
#include "revode/sde/drift_diffusion.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <string>

#include "revode/core/error.hpp"
#include "revode/nn/mlp.hpp"

namespace revode {
namespace {

/// g = σ, the same for every sample and time.
template <class T>
class ConstantDiffusion final : public Diffusion<T> {
 public:
  explicit ConstantDiffusion(Index rows) : rows_(rows) {}
  std::string name() const override { return "const"; }
  Index param_count() const override { return rows_; }
  bool depends_on_state() const override { return false; }
  void eval(T, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> g) const override {
    g = theta.replicate(1, y.cols());
  }
  void vjp(T, const ConstBatchRef<T>&, const ConstVectorRef<T>&, const ConstBatchRef<T>& g_bar,
           BatchRef<T> y_bar, VectorRef<T> theta_bar) const override {
    y_bar.setZero();
    theta_bar += g_bar.rowwise().sum();
  }
  std::unique_ptr<Diffusion<T>> clone() const override {
    return std::make_unique<ConstantDiffusion>(*this);
  }

 private:
  Index rows_;
};

/// g_{i + d j} = σ_{i + d j} y_i: row r of g scales y_{r mod d}.
template <class T>
class LinearDiffusion final : public Diffusion<T> {
 public:
  LinearDiffusion(Index state_dim, Index rows) : d_(state_dim), rows_(rows) {}
  std::string name() const override { return "linear"; }
  Index param_count() const override { return rows_; }
  bool depends_on_state() const override { return true; }
  void eval(T, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> g) const override {
    for (Index j = 0; j < rows_ / d_; ++j)
      g.middleRows(j * d_, d_) = (y.array().colwise() * theta.segment(j * d_, d_).array()).matrix();
  }
  void vjp(T, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& g_bar, BatchRef<T> y_bar,
           VectorRef<T> theta_bar) const override {
    y_bar.setZero();
    for (Index j = 0; j < rows_ / d_; ++j) {
      const auto block = g_bar.middleRows(j * d_, d_);
      y_bar.array() += block.array().colwise() * theta.segment(j * d_, d_).array();
      theta_bar.segment(j * d_, d_) += (block.array() * y.array()).matrix().rowwise().sum();
    }
  }
  std::unique_ptr<Diffusion<T>> clone() const override {
    return std::make_unique<LinearDiffusion>(*this);
  }

 private:
  Index d_, rows_;
};

/// g = MLP(y): ℝ^d → ℝ^rows.
template <class T>
class MlpDiffusion final : public Diffusion<T> {
 public:
  explicit MlpDiffusion(Mlp<T> mlp) : mlp_(std::move(mlp)) {}
  std::string name() const override { return mlp_.name(); }
  Index param_count() const override { return mlp_.param_count(); }
  bool depends_on_state() const override { return true; }
  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> g) const override {
    mlp_.eval(t, y, theta, g);
  }
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& g_bar, BatchRef<T> y_bar,
           VectorRef<T> theta_bar) const override {
    mlp_.vjp(t, y, theta, g_bar, y_bar, theta_bar);
  }
  std::unique_ptr<Diffusion<T>> clone() const override {
    return std::make_unique<MlpDiffusion>(Mlp<T>(mlp_.spec()));
  }
  const Mlp<T>& mlp() const { return mlp_; }

 private:
  Mlp<T> mlp_;
};

std::vector<double> parse_values(std::string_view text, std::string_view spec) {
  std::vector<double> values;
  while (true) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    double v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    require(ec == std::errc() && end == item.data() + item.size() && std::isfinite(v),
            "--diffusion '{}': '{}' is not a finite number", spec, item);
    values.push_back(v);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return values;
}

/// m for general/additive noise from K values (or outputs) over d rows: K = 1 means m = d.
Index noise_dim_from(std::string_view spec, NoiseType noise, Index d, Index k) {
  if (noise == NoiseType::diagonal) return d;
  if (noise == NoiseType::scalar) return 1;
  if (k == 1) return d;
  require(k % d == 0,
          "--diffusion '{}' gives {} values per sample; {} noise over a state of dimension {} "
          "needs d·m of them (a multiple of {})",
          spec, k, noise_type_name(noise), d, d);
  return k / d;
}

}  // namespace

template <class T>
DiffusionBuild<T> make_diffusion(std::string_view spec, NoiseType noise, Index d,
                                 Activation activation, std::uint64_t seed) {
  const std::size_t colon = spec.find(':');
  require(colon != std::string_view::npos,
          "--diffusion '{}': expected const:V,..., linear:V,... or mlp:WIDTHS", spec);
  const std::string_view kind = spec.substr(0, colon), rest = spec.substr(colon + 1);
  DiffusionBuild<T> out;
  if (kind == "mlp") {
    // parse_mlp_spec checks a vector field's widths (first = last): parse with the last width
    // replaced by the first, then put the output width K back (Mlp validates it again).
    const std::size_t last_comma = rest.rfind(',');
    require(last_comma != std::string_view::npos,
            "--diffusion '{}': expected mlp:d,H,...,K (input width d, output width K)", spec);
    std::string_view last = rest.substr(last_comma + 1);
    while (!last.empty() && last.front() == ' ') last.remove_prefix(1);
    while (!last.empty() && last.back() == ' ') last.remove_suffix(1);
    long long k_value = 0;
    const auto [end, ec] = std::from_chars(last.data(), last.data() + last.size(), k_value);
    require(ec == std::errc() && end == last.data() + last.size() && k_value >= 1,
            "--diffusion '{}': output width '{}' is not a positive integer", spec, last);
    MlpSpec mlp_spec = parse_mlp_spec(
        std::string(rest.substr(0, last_comma + 1)) + std::string(rest.substr(0, rest.find(','))),
        activation);
    mlp_spec.widths.back() = Index(k_value);
    mlp_spec.rectangular = true;
    require(mlp_spec.widths.front() == d,
            "--diffusion '{}': the MLP's input width {} must be the state dimension {}", spec,
            mlp_spec.widths.front(), d);
    require(noise != NoiseType::additive,
            "--diffusion '{}' depends on y, but additive noise needs g(t) independent of y: use "
            "const:V,... or another noise type",
            spec);
    const Index k = mlp_spec.widths.back();
    out.noise_dim = noise_dim_from(spec, noise, d, k);
    const Index rows = diffusion_rows(noise, d, out.noise_dim);
    require(k == rows,
            "--diffusion '{}': the MLP outputs {} values per sample; {} noise with m = {} needs "
            "{}",
            spec, k, noise_type_name(noise), out.noise_dim, rows);
    Mlp<T> mlp(mlp_spec);
    out.default_params = mlp.init_params(Init::pytorch_default, seed);
    out.diffusion = std::make_unique<MlpDiffusion<T>>(std::move(mlp));
    return out;
  }
  require(kind == "const" || kind == "linear",
          "--diffusion '{}': unknown kind '{}'; expected const, linear or mlp", spec, kind);
  const std::vector<double> values = parse_values(rest, spec);
  const Index k = Index(values.size());
  out.noise_dim = noise_dim_from(spec, noise, d, k);
  const Index rows = diffusion_rows(noise, d, out.noise_dim);
  require(k == 1 || k == rows,
          "--diffusion '{}' gives {} values; {} noise over a state of dimension {} needs 1 or {}",
          spec, k, noise_type_name(noise), d, rows);
  out.default_params.resize(rows);
  for (Index r = 0; r < rows; ++r) out.default_params[r] = T(values[std::size_t(k == 1 ? 0 : r)]);
  if (kind == "const") {
    out.diffusion = std::make_unique<ConstantDiffusion<T>>(rows);
  } else {
    require(noise != NoiseType::additive,
            "--diffusion '{}' depends on y, but additive noise needs g(t) independent of y: use "
            "const:V,... or another noise type",
            spec);
    out.diffusion = std::make_unique<LinearDiffusion<T>>(d, rows);
  }
  return out;
}

template <class T>
DriftDiffusion<T>::DriftDiffusion(std::unique_ptr<VectorField<T>> drift,
                                  std::unique_ptr<Diffusion<T>> diffusion, NoiseType noise,
                                  Index noise_dim)
    : drift_(std::move(drift)),
      diffusion_(std::move(diffusion)),
      noise_(noise),
      noise_dim_(noise_dim) {
  require(drift_ != nullptr && diffusion_ != nullptr, "an SDE needs a drift and a diffusion");
  require(noise_dim >= 1, "noise dimension {}; required: >= 1", noise_dim);
  require(noise != NoiseType::diagonal || noise_dim == state_dim(),
          "diagonal noise needs m = d = {}; got m = {}", state_dim(), noise_dim);
  require(noise != NoiseType::scalar || noise_dim == 1, "scalar noise needs m = 1; got m = {}",
          noise_dim);
  require(noise != NoiseType::additive || !diffusion_->depends_on_state(),
          "additive noise needs a diffusion independent of y; '{}' depends on y",
          diffusion_->name());
}

template <class T>
std::string DriftDiffusion<T>::name() const {
  return fmt::format("sde(drift {}, diffusion {}, {} noise, m = {})", drift_->name(),
                     diffusion_->name(), noise_type_name(noise_), noise_dim_);
}

template <class T>
void DriftDiffusion<T>::eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                             BatchRef<T> dy) const {
  drift_->eval(t, y, theta.head(drift_->param_count()), dy);
}

template <class T>
void DriftDiffusion<T>::vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                            const ConstBatchRef<T>& a, BatchRef<T> y_bar,
                            VectorRef<T> theta_bar) const {
  const Index p = drift_->param_count();
  drift_->vjp(t, y, theta.head(p), a, y_bar, theta_bar.head(p));
}

template <class T>
void DriftDiffusion<T>::diffusion(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                                  BatchRef<T> g) const {
  diffusion_->eval(t, y, theta.tail(diffusion_->param_count()), g);
}

template <class T>
void DriftDiffusion<T>::diffusion_vjp(T t, const ConstBatchRef<T>& y,
                                      const ConstVectorRef<T>& theta, const ConstBatchRef<T>& g_bar,
                                      BatchRef<T> y_bar, VectorRef<T> theta_bar) const {
  const Index q = diffusion_->param_count();
  diffusion_->vjp(t, y, theta.tail(q), g_bar, y_bar, theta_bar.tail(q));
}

template <class T>
std::unique_ptr<VectorField<T>> DriftDiffusion<T>::clone() const {
  return std::make_unique<DriftDiffusion<T>>(drift_->clone(), diffusion_->clone(), noise_,
                                             noise_dim_);
}

template class DriftDiffusion<float>;
template class DriftDiffusion<double>;
template DiffusionBuild<float> make_diffusion<float>(std::string_view, NoiseType, Index, Activation,
                                                     std::uint64_t);
template DiffusionBuild<double> make_diffusion<double>(std::string_view, NoiseType, Index,
                                                       Activation, std::uint64_t);

}  // namespace revode
