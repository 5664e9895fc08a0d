/// A multilayer perceptron as a vector field, f(t, y) = W_L σ(… σ(W_1 x + b_1) …) + b_L with
/// x = y or x = [t; y], its VJP written by hand (DESIGN.md, "Why a native engine"), and the
/// PyTorch-default and Glorot initialisers. θ is one flat vector (layout on `Mlp`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "revode/core/vector_field.hpp"
#include "revode/nn/activation.hpp"

namespace revode {

namespace small_mlp {
template <class T>
struct Kernels;  // src/nn/small_mlp.hpp
}  // namespace small_mlp

/// The architecture of an Mlp. widths = {state_dim, hidden..., state_dim}; at least 2 entries.
struct MlpSpec {
  std::vector<Index> widths;
  Activation activation = Activation::tanh;  ///< every hidden layer; the last layer is linear
  bool time_input = false;  ///< feed [t; y]: the first layer takes state_dim + 1 inputs
  /// Allow widths.front() ≠ widths.back(): a map ℝ^first → ℝ^last rather than a vector field
  /// (a DEQ's f on [z; x], deq/deq_layer.hpp). state_dim() is then the input width and eval's
  /// dy, vjp's a have output_dim() rows. Solvers and gradient methods need a square Mlp.
  bool rectangular = false;
};

/// Throws revode::Error unless widths has ≥ 2 entries, all positive and at most 2^20, at most
/// 2^31 parameters in all, and first == last (unless spec.rectangular).
void validate(const MlpSpec& spec);

/// Parses comma-separated widths such as "2,64,64,2" (spaces around numbers allowed) and
/// validates the result. Throws revode::Error naming the bad token or broken rule.
MlpSpec parse_mlp_spec(std::string_view widths, Activation activation = Activation::tanh,
                       bool time_input = false);

/// Parameter initialisers. Both draw from std::mt19937_64 with a fixed uniform mapping, so
/// a seed gives identical θ with every standard library; float θ is double θ rounded.
enum class Init {
  pytorch_default,  ///< torch.nn.Linear: W, b ~ U(±1/√fan_in)
  glorot,           ///< W ~ U(±√(6/(fan_in + fan_out))), b = 0
};

/// Where one affine layer lives in θ. W is outputs × inputs, column-major, at weight_offset;
/// b (outputs) follows it at bias_offset = weight_offset + outputs·inputs.
struct LayerShape {
  Index inputs = 0;
  Index outputs = 0;
  Index weight_offset = 0;
  Index bias_offset = 0;
};

/// MLP vector field. θ layout: for each layer in order, W (column-major) then b. With
/// time_input, column 0 of the first W multiplies t and columns 1… multiply y (the published
/// white-dwarf model is [t, y] → 10 tanh → 2). Scratch is per instance: use clone() per thread.
template <class T>
class Mlp final : public VectorField<T> {
 public:
  /// Validates spec (see validate); throws revode::Error.
  explicit Mlp(MlpSpec spec);

  Index state_dim() const override { return spec_.widths.front(); }
  /// Rows of eval's output: widths.back() (== state_dim() unless spec.rectangular).
  Index output_dim() const { return spec_.widths.back(); }
  Index param_count() const override { return param_count_; }
  /// e.g. "mlp:2,64,64,2 tanh", or "mlp:2,10,2 tanh time-input".
  std::string name() const override;

  /// dy = f(t, y; θ). y: state_dim × batch, dy: output_dim × batch; theta: param_count. dy
  /// must not alias y.
  void eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
            BatchRef<T> dy) const override;
  /// y_bar = aᵀ ∂f/∂y; theta_bar += aᵀ ∂f/∂θ summed over the batch. a: output_dim × batch,
  /// y_bar like y. y_bar must not alias a; it may alias y (ȳ overwrites y in place).
  void vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
           const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const override;
  /// One column on raw pointers (VectorField::eval_column): a shape with fixed-size kernels
  /// runs them with no view and no shape check beyond `rows` and θ's size; any other (or a
  /// rectangular Mlp) goes through eval.
  void eval_column(T t, const T* y, Index rows, const ConstVectorRef<T>& theta,
                   T* dy) const override;
  void vjp_column(T t, const T* y, Index rows, const ConstVectorRef<T>& theta, const T* a,
                  T* y_bar, VectorRef<T> theta_bar) const override;
  /// σ(z) and σ'(z) of every hidden unit: 2 · Σ hidden widths · min(batch, slab), where the
  /// slab (256 columns for widths ≤ 64 double / 128 float, fewer for wider layers) bounds
  /// the columns processed at once; wider batches reuse one scratch slab by slab. Batches of
  /// kForwardCacheMinBatch … slab columns also keep the forward cache (see eval): 1 + 4 such
  /// sets at slab width, the 4 keys' states (state_dim × slab each) and a copy of θ.
  Index intermediate_floats(Index batch) const override;

  /// Batches at least this wide (and at most one slab) keep the hidden layers of the last 4
  /// evaluations, keyed by the exact bits of t, y and θ: a VJP at a point just evaluated (as
  /// every VJP of a reversible solver's backward step is) skips the forward recompute and
  /// gives bit-identical results. Narrower batches recompute: the forward is cheaper than the
  /// bookkeeping there.
  static constexpr Index kForwardCacheMinBatch = 32;
  /// At kForwardCacheMinBatch columns and more the forward tape keeps a hidden layer only if
  /// it has at least this many inputs: recomputing σ = tanh(W x + b) costs 2 · inputs flops
  /// and a tanh per value, keeping it a store and a load through DRAM (docs/performance.md,
  /// "Session 7").
  static constexpr Index kWideTapeMinInputs = 16;
  /// The forward tape, direct backprop's (gradients/direct_backprop.cpp): from
  /// `record_forwards(max_floats)` with max_floats > 0 until `record_forwards(0)`, each eval
  /// keeps t, y and hidden layers' σ, and σ' unless σ is tanh (tanh' is rebuilt from σ), at
  /// most max_floats scalars in all, earliest first (what does not fit is recomputed). Batches
  /// of fewer than kForwardCacheMinBatch columns keep every hidden layer (1 + (state_dim +
  /// Σ hidden) · batch scalars with tanh); wider ones only the layers fed by a wide GEMM (at
  /// least kWideTapeMinInputs inputs: for 2→64→64→2 the second hidden layer, 1 + (2 + 64) ·
  /// batch), the others being cheap to recompute, and skip the forward cache meanwhile. A vjp
  /// at exactly the point of the last kept entry (bits of t and y, the same θ) takes it
  /// instead of recomputing: bit for bit the same result. Backprop's
  /// VJPs come in the reverse order of its evaluations, so entries go last in, first out. A θ
  /// changed in place between the evaluations and the first VJP is caught (the entries are
  /// then dropped); θ must not change in place between two VJPs that take entries (backprop's
  /// never does). `drop_forwards` empties the tape (its memory is kept for the next one).
  ///
  /// TapeOrder::step is reversible backprop's (gradients/reversible_backprop.cpp): every
  /// backward step evaluates f at exactly the points whose VJPs it takes next, in another
  /// order (a McCallum–Foster step evaluates Φ_{−h}(Y1)'s stages, then Φ_h(Z0)'s, and pulls
  /// back Φ_{−h}'s first). Entries are kept as above; a vjp takes the newest entry at exactly
  /// its point wherever it sits and leaves it there (a dense save and the step may pull back
  /// the same point), so the caller empties the tape with `drop_forwards` after every step and
  /// the tape holds one step's evaluations at most. θ is compared by address only: it must not
  /// change in place while entries are kept. Wider batches keep their forward cache.
  enum class TapeOrder { reverse, step };
  void record_forwards(Index max_floats, TapeOrder order = TapeOrder::reverse) const;
  void drop_forwards() const;
  /// Scalars one tape entry of `batch` columns takes; 0 if no hidden layer is kept.
  Index tape_entry_floats(Index batch) const;
  /// Scalars the forward tape holds now (for stored_floats).
  Index recorded_floats() const { return Index(tape_.data.size()); }

  /// Deferred weight gradients, for a caller that owns a whole backward loop and passes the
  /// same θ̄ to every VJP without reading it in between (direct backprop, through
  /// DeferWeightGradients below). From `defer_weight_gradients(target)` until
  /// `flush_weight_gradients()`, a batch-1 vjp into exactly `target` (same data pointer) adds
  /// b̄ and the t column of W̄_1 at once, pulls g down, and keeps each wide layer's (x, g)
  /// columns (kDeferMinWeightBytes; narrower layers add at once);
  /// every kDeferredColumns-th such vjp adds the kept terms W̄ += g_m x_mᵀ, in the order they
  /// came and with the same FMAs, within its own sweep over W. So θ̄ gets exactly the bits
  /// the immediate path would give, while W̄ is read and written from L2 once per
  /// kDeferredColumns VJPs instead of every time (at batch 1 that traffic, not the
  /// arithmetic, bounds the VJP of a 64 × 64 layer). Until the flush `target` lacks the kept
  /// terms: the caller must not read it nor free it. A vjp of another batch into `target`
  /// flushes first; any other θ̄ takes the immediate path. Opening again (or with nullptr:
  /// stop deferring) flushes the kept terms into the old target first.
  void defer_weight_gradients(T* target) const;
  /// Adds the kept terms into the target now (it is then complete); deferring goes on.
  void flush_weight_gradients() const;
  /// Discards the kept terms (the target lacks them); deferring goes on.
  void drop_weight_gradients() const;
  /// Scalars the deferred terms' buffer holds for VJPs of `batch` columns (for stored_floats:
  /// Σ (inputs + outputs) · kDeferredColumns over the deferring layers at batch 1, less the t
  /// row; 0 otherwise).
  Index deferred_floats(Index batch) const;
  static constexpr int kDeferredColumns = 4;
  /// Only layers whose W (less the t column) has at least this many bytes defer: below it, W
  /// and W̄ share the L1 cache and the immediate sweep costs no traffic to save.
  static constexpr Index kDeferMinWeightBytes = 16 * 1024;

  std::unique_ptr<VectorField<T>> clone() const override;

  const MlpSpec& spec() const { return spec_; }
  /// Whether batch-1 evaluations and VJPs take a fixed-size kernel (src/nn/small_mlp.hpp:
  /// one tanh hidden layer of a few listed shapes, such as the white-dwarf field [t, y] → 10
  /// → 2), chosen at construction. It rounds differently from the generic kernels (a few
  /// ulp of the largest output), consistently for every batch-1 call of this Mlp.
  bool fixed_size_kernel() const { return fixed_ != nullptr; }
  /// false forces the generic batch-1 path (tests and benchmarks compare the two); true
  /// restores the fixed-size kernel where the shape has one. Not carried over by clone().
  void allow_fixed_size_kernel(bool allow);
  const std::vector<LayerShape>& layers() const { return layers_; }

  /// A fresh θ (param_count entries), deterministic in seed.
  Vector<T> init_params(Init init, std::uint64_t seed) const;

 private:
  /// eval and vjp on at most slab_ columns (see mlp.cpp); shapes already checked.
  void eval_slab(T t, const ConstBatchRef<T>& y, const T* theta, BatchRef<T> dy) const;
  /// vjp_slab's backward half, with the hidden layers' σ and σ' (hidden layer l at h[l], d[l],
  /// outputs × batch, contiguous) already computed.
  void vjp_slab(T t, const ConstBatchRef<T>& y, const T* theta, const ConstBatchRef<T>& a,
                BatchRef<T> y_bar, T* theta_bar, bool have_forward = false) const;
  void backward_slab(T t, const ConstBatchRef<T>& y, const T* theta, const ConstBatchRef<T>& a,
                     BatchRef<T> y_bar, T* theta_bar, const T* const* h,
                     const T* const* d) const;
  /// The batch-1 path on raw pointers (no Eigen objects per call; tanh fused into the layer
  /// kernel): eval and vjp of one contiguous column.
  void generic_eval_column(T t, const T* y, const T* theta, T* dy,
                           bool keep_derivative = false) const;
  void generic_vjp_column(T t, const T* y, const T* theta, const T* a, T* y_bar, T* theta_bar,
                          bool defer = false) const;
  /// generic_vjp_column's backward half (h, d as backward_slab's, one column).
  /// defer: W̄'s terms are kept (see defer_weight_gradients).
  void backward_column(T t, const T* y, const T* theta, const T* a, T* y_bar, T* theta_bar,
                       const T* const* h, const T* const* d, bool defer = false) const;
  /// Whether a vjp of `batch` columns into theta_bar keeps its W̄ terms; flushes the kept ones
  /// first when a vjp of another batch comes into the target.
  bool defers(Index batch, const T* theta_bar) const;
  /// The kept terms' sweep for layer l: adds them all (m of them, g_m of the last being g when
  /// pulling) and, when g is not null, pulls g down into g_in as dense::backward_columns.
  void add_deferred(std::size_t l, int m, const T* w, T* w_bar, const T* g, const T* d,
                    T* g_in) const;
  /// The forward tape: whether an evaluation of `batch` columns is kept, keeping it (after
  /// the hidden layers are in hidden_/derivative_), and finding the entry a VJP may take
  /// (its σ, σ' pointers into th/td; false if the last kept entry is not at (t, y, θ)).
  bool records(Index batch) const;
  /// Whether an entry of `batch` columns keeps hidden layer l (see kWideTapeMinInputs).
  bool tape_keeps(std::size_t l, Index batch) const;
  /// Appends an entry of `floats` scalars holding t and y (θ checked as its first entry's);
  /// returns where its hidden layers go, left for the caller to write.
  T* start_entry(T t, const ConstBatchRef<T>& y, const T* theta, Index floats) const;
  void push_forward(T t, const ConstBatchRef<T>& y, const T* theta) const;
  /// Wide batches' tape: the eval computes the kept layers' σ straight into a new entry; the
  /// vjp takes them from it (wide_entry_) and recomputes the others, slab by slab.
  void eval_into_tape(T t, const ConstBatchRef<T>& y, const T* theta, BatchRef<T> dy) const;
  void vjp_from_tape(T t, const ConstBatchRef<T>& y, const T* theta, const ConstBatchRef<T>& a,
                     BatchRef<T> y_bar, T* theta_bar) const;
  /// The hidden layers of one slab, columns [c, c + n) of an entry of `batch` columns whose
  /// kept layers start at `kept` (each outputs × batch, σ then σ' unless tanh): a kept layer
  /// is computed into the entry (into_tape, no σ') or taken from it (tanh' rebuilt into
  /// derivative_), the others are computed into hidden_ (σ' too unless into_tape). th_/td_
  /// then point at every layer's σ and σ'.
  void forward_taped(T t, const ConstBatchRef<T>& y, const T* theta, T* kept, Index batch, Index c,
                     bool into_tape) const;
  /// top_forward rebuilds tanh' into derivative_ (td_) unless `derivative` is false (the
  /// fixed-size VJP rebuilds it from σ itself).
  /// y: any column-major view (a Ref, or the fixed path's Map of one column).
  template <class View>
  bool top_forward(T t, const View& y, const T* theta, bool derivative = true) const;
  /// The fixed-size path's entry (batch 1, tanh: t, y, σ): the entry is opened with t and y
  /// written, and the returned pointer is where the kernel writes σ; null when not recording.
  T* open_fixed_entry(T t, const T* y, const T* theta) const;
  /// The fixed-size kernels' eval and vjp, with the forward tape (shapes already checked).
  void fixed_eval(T t, const T* y, const T* theta, T* dy) const;
  void fixed_vjp(T t, const T* y, const T* theta, const T* a, T* y_bar, T* theta_bar) const;
  /// push_forward's θ bookkeeping: drops the entries if θ is not theirs.
  void adopt_theta(const T* theta) const;
  void pop_forward() const;
  /// The hidden layers of one column into hidden_[l].col(0) (and derivative_ when asked);
  /// returns the last hidden layer's values, or y without hidden layers.
  const T* forward_column(T t, const T* y, const T* theta, bool keep_derivative) const;
  /// Runs the hidden layers on batch columns of y into hidden_ (and derivative_ when asked).
  void forward_hidden(T t, const ConstBatchRef<T>& y, const T* theta, bool keep_derivative) const;
  /// The forward cache (see kForwardCacheMinBatch).
  bool uses_forward_cache(Index batch) const;
  /// Invalidates every entry unless θ equals the copy the entries were computed with.
  void sync_forward_cache(const T* theta) const;
  /// Moves the working hidden_/derivative_ (just computed at (t, y)) into the next entry.
  void store_forward(T t, const ConstBatchRef<T>& y) const;
  /// Moves the entry computed at (t, y) into hidden_/derivative_; false if there is none.
  bool take_forward(T t, const ConstBatchRef<T>& y) const;
  /// Throws revode::Error unless both sizes equal param_count() (inline: one comparison per
  /// call at batch 1; the message is built out of line).
  void check_theta(Index theta_size, Index theta_bar_size) const {
    if (theta_size != param_count_ || theta_bar_size != param_count_) [[unlikely]]
      theta_size_error(theta_size, theta_bar_size);
  }
  [[noreturn, gnu::cold]] void theta_size_error(Index theta_size, Index theta_bar_size) const;
  /// Grows the scratch to hold `batch` columns; never shrinks, so warm calls do not allocate.
  void reserve(Index batch) const;

  MlpSpec spec_;
  const small_mlp::Kernels<T>* fixed_ = nullptr;  // batch-1 kernels for this shape, or null
  std::vector<LayerShape> layers_;
  Index param_count_ = 0;
  Index max_hidden_ = 0;
  Index slab_ = 0;  // columns per slab; wider batches are processed slab by slab
  // Scratch, width × capacity_ each; calls use the first `batch` columns (contiguous).
  mutable Index capacity_ = 0;
  mutable std::vector<Batch<T>> hidden_;      // σ(z_l) per hidden layer
  mutable std::vector<Batch<T>> derivative_;  // σ'(z_l) per hidden layer, kept for vjp
  mutable Vector<T> cotangent_[2];            // ping-pong a_l, max_hidden_ × capacity_
  mutable Vector<T> first_bias_;              // b_1 + t·W_1[:, 0] when time_input
  struct ForwardEntry {
    std::vector<Batch<T>> hidden, derivative;  // as hidden_/derivative_, slab_ columns
    Batch<T> y;                                // the key: t and y (θ is theta_copy_)
    T t = 0;
    bool valid = false;
  };
  static constexpr int kForwardEntries = 4;
  mutable std::vector<ForwardEntry> forward_cache_;  // allocated on first use
  mutable Vector<T> theta_copy_;
  mutable int next_entry_ = 0;
  /// Leaves new elements uninitialised: a wide entry's σ is written by the evaluation, and
  /// zeroing it first would be one more pass through DRAM.
  template <class U>
  struct UninitializedAllocator : std::allocator<U> {
    UninitializedAllocator() = default;
    template <class V>
    UninitializedAllocator(const UninitializedAllocator<V>&) noexcept {}
    template <class V, class... A>
    void construct(V* p, A&&... args) {
      if constexpr (sizeof...(A) == 0)
        ::new (static_cast<void*>(p)) V;
      else
        ::new (static_cast<void*>(p)) V(std::forward<A>(args)...);
    }
  };
  struct ForwardTape {
    // Entries back to back: t, y, σ per kept layer, σ' per kept layer unless tanh.
    std::vector<T, UninitializedAllocator<T>> data;
    std::vector<std::size_t> start;  // where each entry begins
    std::vector<Index> batch;        // its columns
    Index max_floats = 0;            // 0: not recording
    TapeOrder order = TapeOrder::reverse;
    const T* theta = nullptr;        // θ of the entries (compared in full once per recording)
    Vector<T> theta_copy;
    bool theta_checked = false;
    // TapeOrder::step: the entry below the one last taken, tried first (a step's VJPs come in
    // the reverse order of its evaluations); any index, checked by its key like the others.
    std::size_t below_taken = 0;
  };
  mutable ForwardTape tape_;
  /// Whether layer l's W̄ terms are kept (kDeferMinWeightBytes).
  bool defers_layer(std::size_t l) const;
  struct DeferredGradients {
    T* target = nullptr;          // θ̄ the kept terms belong to; null: not deferring
    int columns = 0;              // kept so far, < kDeferredColumns
    std::vector<Batch<T>> x, g;   // per layer: inputs (less the t row) and outputs × K, or
                                  // empty for a layer that does not defer
  };
  mutable DeferredGradients deferred_;
  mutable std::vector<const T*> th_, td_;  // σ, σ' per hidden layer for the backward half
  mutable T* wide_entry_ = nullptr;        // the kept layers of the wide entry top_forward took
};

extern template class Mlp<float>;
extern template class Mlp<double>;

/// Defers an Mlp's weight gradients into theta_bar while it lives (Mlp::defer_weight_gradients);
/// nothing for any other field. Declare it after theta_bar, and read or overwrite theta_bar
/// only after `flush()` or `finish()` (the end of the scope flushes too; while an exception
/// unwinds, the kept terms are dropped instead, the gradient being lost anyway).
template <class T>
class DeferWeightGradients {
 public:
  DeferWeightGradients(const VectorField<T>& field, VectorRef<T> theta_bar);
  ~DeferWeightGradients();
  /// Adds the kept terms into theta_bar, so it can be read; deferring goes on.
  void flush();
  /// Discards the kept terms, so theta_bar can be overwritten (a rewind); deferring goes on.
  void drop();
  /// Adds the kept terms into theta_bar and stops deferring.
  void finish();
  /// Scalars the kept terms' buffer holds for VJPs of `batch` columns (Mlp::deferred_floats).
  Index floats(Index batch) const { return mlp_ != nullptr ? mlp_->deferred_floats(batch) : 0; }
  DeferWeightGradients(const DeferWeightGradients&) = delete;
  DeferWeightGradients& operator=(const DeferWeightGradients&) = delete;

 private:
  const Mlp<T>* mlp_;
  int exceptions_;
};

extern template class DeferWeightGradients<float>;
extern template class DeferWeightGradients<double>;

}  // namespace revode
