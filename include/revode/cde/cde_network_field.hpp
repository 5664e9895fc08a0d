/// A CdeField whose observations are held fixed: θ is the network part alone. Training a CDE
/// fits F_θ to data while the control paths stay the data they were read from; this field
/// hides the path values from the optimiser (revode train --field cde:..., docs/training.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "revode/cde/cde_field.hpp"
#include "revode/core/error.hpp"

namespace revode {

template <class T>
class CdeNetworkField final : public VectorField<T> {
 public:
  /// `observations`: the path part of the CDE's θ (observation_count() values), kept as is.
  /// @throws revode::Error when it has the wrong length.
  CdeNetworkField(std::unique_ptr<CdeField<T>> cde, Vector<T> observations)
      : cde_(std::move(cde)), full_(cde_->param_count()), full_bar_(cde_->param_count()) {
    require(observations.size() == cde_->observation_count(),
            "CDE '{}': {} observation values given; expected {}", cde_->name(), observations.size(),
            cde_->observation_count());
    full_.tail(observations.size()) = observations;
  }

  Index state_dim() const override { return cde_->state_dim(); }
  Index param_count() const override { return cde_->network_param_count(); }
  std::string name() const override { return cde_->name(); }

  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override {
    full_.head(theta.size()) = theta;
    cde_->eval(t, y, full_, dy);
  }
  /// θ̄ += aᵀ ∂f/∂θ for the network part; the observations' share is computed and dropped.
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override {
    full_.head(theta.size()) = theta;
    full_bar_.head(theta_bar.size()) = theta_bar;
    full_bar_.tail(full_bar_.size() - theta_bar.size()).setZero();
    cde_->vjp(t, y, full_, a, y_bar, full_bar_);
    theta_bar = full_bar_.head(theta_bar.size());
  }
  Index intermediate_floats(Index batch) const override { return cde_->intermediate_floats(batch); }
  bool column_local() const override { return false; }  // column b is driven by sample b
  std::unique_ptr<VectorField<T>> clone() const override {
    auto copy = std::unique_ptr<CdeField<T>>(static_cast<CdeField<T>*>(cde_->clone().release()));
    return std::make_unique<CdeNetworkField<T>>(std::move(copy), observations());
  }

  /// The same CDE over samples `samples` only, in that order (column j is sample samples[j]):
  /// how a trainer gives a mini-batch or a chunk its own paths. θ is unchanged.
  /// @throws revode::Error for an empty list or a sample outside 0 … batch − 1.
  std::unique_ptr<CdeNetworkField<T>> columns(const std::vector<Index>& samples) const {
    require(!samples.empty(), "CDE '{}': a column selection needs at least one sample",
            cde_->name());
    const Index per = cde_->channels() * cde_->path().knots();  // one sample's path values
    const Index network = cde_->network_param_count();
    Vector<T> observations(per * Index(samples.size()));
    for (std::size_t j = 0; j < samples.size(); ++j) {
      const Index b = samples[j];
      require(b >= 0 && b < cde_->batch(), "CDE '{}': sample {}; expected 0 … {}", cde_->name(),
              b, cde_->batch() - 1);
      observations.segment(per * Index(j), per) = full_.segment(network + per * b, per);
    }
    auto cde = std::make_unique<CdeField<T>>(cde_->spec(), cde_->path(), cde_->channels(),
                                             Index(samples.size()));
    return std::make_unique<CdeNetworkField<T>>(std::move(cde), std::move(observations));
  }

  const CdeField<T>& cde() const { return *cde_; }
  Vector<T> observations() const { return full_.tail(cde_->observation_count()); }

 private:
  std::unique_ptr<CdeField<T>> cde_;
  mutable Vector<T> full_;      ///< [θ | observations], the CDE's θ
  mutable Vector<T> full_bar_;  ///< its θ̄
};

}  // namespace revode
