/// Mlp: spec parsing and validation, initialisers, and the forward and VJP kernels.
/// Layout assumed by every kernel: θ blocks are column-major without padding; scratch blocks
/// are the first `batch` columns of width × capacity matrices, hence contiguous.

#include "revode/nn/mlp.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <random>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "revode/core/error.hpp"
#include "dense_kernels.hpp"
#include "small_mlp.hpp"

namespace revode {
namespace {

template <class T>
using ConstMatrixMap = Eigen::Map<const Batch<T>>;
template <class T>
using MatrixMap = Eigen::Map<Batch<T>>;
template <class T>
using ConstVectorMap = Eigen::Map<const Vector<T>>;
template <class T>
using VectorMap = Eigen::Map<Vector<T>>;

/// Wider batches run in slabs of at most this many columns. Eigen's GEMM keeps its packing
/// workspace (about depth × columns scalars for the right-hand side) on the stack only up to
/// EIGEN_STACK_ALLOCATION_LIMIT (128 KiB) and mallocs beyond it, so the slab shrinks with the
/// widest layer; slabs keep warm calls allocation-free and in cache.
constexpr Index kMaxSlab = 256;
constexpr Index kPackBytes = 128 * 1024;

/// Limits that turn an absurd spec into a named error rather than a failed allocation: no
/// layer wider than 2^20 units, no more than 2^31 parameters (16 GiB of float64).
constexpr Index kMaxWidth = Index{1} << 20;
constexpr Index kMaxParams = Index{1} << 31;

/// "2,64,2"; a long list shows its first and last widths only, so a message stays short.
std::string join_widths(const std::vector<Index>& widths) {
  constexpr std::size_t shown = 6;  // at each end
  std::string out;
  for (std::size_t i = 0; i < widths.size(); ++i) {
    if (widths.size() > 2 * shown && i == shown) {
      out += fmt::format(",… ({} widths in all) …", widths.size());
      i = widths.size() - shown;
    }
    out.append(out.empty() ? "" : ",").append(std::to_string(widths[i]));
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

/// out = W x + b·1ᵀ (out: outputs × batch). Batch 1 takes the hand-written kernel
/// (dense_kernels.hpp; MLP 2→64→64→2 double eval 0.62 µs through Eigen's gemv, 0.54 µs through
/// the kernel). Wider batches write
/// the bias first and add the product in place, so the GEMM accumulates into out without a
/// temporary.
template <class W, class X, class Out>
void affine(const W& w, const X& x, const typename W::Scalar* bias, Out&& out) {
  if (x.cols() == 1) {
    eigen_assert(w.innerStride() == 1 && x.innerStride() == 1 && out.innerStride() == 1);
    dense::forward(w.data(), w.outerStride(), w.rows(), w.cols(), x.data(), bias, out.data());
    return;
  }
  out.colwise() = ConstVectorMap<typename W::Scalar>(bias, w.rows());
  out.noalias() += w * x;
}

/// One affine layer. With time input the t column of W folds into the bias, so [t; y] is
/// never materialised: z = W[:, 1:] y + (b + t·W[:, 0]).
template <class T, class X, class Out>
void layer_forward(const LayerShape& s, bool with_time, T t, const X& x, const T* theta,
                   Vector<T>& bias_scratch, Out&& out) {
  const ConstMatrixMap<T> w(theta + s.weight_offset, s.outputs, s.inputs);
  if (!with_time) {
    affine(w, x, theta + s.bias_offset, std::forward<Out>(out));
    return;
  }
  bias_scratch.head(s.outputs).noalias() =
      ConstVectorMap<T>(theta + s.bias_offset, s.outputs) + t * w.col(0);
  affine(w.rightCols(s.inputs - 1), x, bias_scratch.data(), std::forward<Out>(out));
}

/// Asks Linux to back [p, p + bytes) with transparent huge pages where it can: a wide tape's
/// first gradient then takes one page fault per 2 MiB instead of one per 4 KiB.
void advise_huge_pages(void* p, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t huge = std::uintptr_t{2} << 20;
  const std::uintptr_t begin = (reinterpret_cast<std::uintptr_t>(p) + huge - 1) & ~(huge - 1);
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(huge - 1);
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

/// memcmp(a, b, n · sizeof(T)) == 0 written out: the tape's keys are a few floats at batch
/// 1, where the libc call (its size dispatch) cost more than the comparison (~1% of the
/// white-dwarf reversible gradient in perf).
template <class T>
bool same_bits(const T* a, const T* b, Index n) {
  using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
  static_assert(sizeof(Bits) == sizeof(T));
  for (Index i = 0; i < n; ++i)
    if (std::bit_cast<Bits>(a[i]) != std::bit_cast<Bits>(b[i])) return false;
  return true;
}

}  // namespace

void validate(const MlpSpec& spec) {
  const auto& w = spec.widths;
  require(w.size() >= 2, "MLP widths [{}]: need at least 2 widths (state_dim, ..., state_dim)",
          join_widths(w));
  // The message is built only on failure: building it per width would make this check
  // quadratic in the number of layers.
  for (std::size_t i = 0; i < w.size(); ++i)
    if (w[i] <= 0)
      throw Error(fmt::format("MLP widths [{}]: width {} is {}, expected a positive integer",
                              join_widths(w), i, w[i]));
  for (std::size_t i = 0; i < w.size(); ++i)
    if (w[i] > kMaxWidth)
      throw Error(fmt::format("MLP widths [{}]: width {} is {}, above the limit {}", join_widths(w),
                              i, w[i], kMaxWidth));
  // Widths ≤ 2^20 keep each layer's count below 2^41 and the running sum stops at the first
  // layer past the limit, so nothing overflows a 64-bit Index.
  Index params = 0;
  for (std::size_t l = 0; l + 1 < w.size() && params <= kMaxParams; ++l)
    params += (w[l] + (l == 0 && spec.time_input ? 1 : 0) + 1) * w[l + 1];
  require(params <= kMaxParams, "MLP widths [{}]: {} or more parameters, above the limit {}",
          join_widths(w), params, kMaxParams);
  require(spec.rectangular || w.front() == w.back(),
          "MLP widths [{}]: first width {} differs from last width {}; the output is dy/dt, so "
          "both must equal the state dimension",
          join_widths(w), w.front(), w.back());
}

MlpSpec parse_mlp_spec(std::string_view widths, Activation activation, bool time_input) {
  MlpSpec spec{{}, activation, time_input};
  require(!trim(widths).empty(),
          "MLP spec is empty; expected comma-separated widths such as 2,64,64,2");
  std::string_view rest = widths;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view token = trim(rest.substr(0, comma));
    long long value = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    require(!token.empty() && ec == std::errc{} && end == token.data() + token.size(),
            "MLP spec '{}{}': width {} is '{}', expected a positive integer", widths.substr(0, 60),
            widths.size() > 60 ? "…" : "", spec.widths.size(), token.substr(0, 40));
    spec.widths.push_back(static_cast<Index>(value));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  validate(spec);
  return spec;
}

template <class T>
Mlp<T>::Mlp(MlpSpec spec) : spec_(std::move(spec)) {
  validate(spec_);
  const auto& w = spec_.widths;
  for (std::size_t l = 0; l + 1 < w.size(); ++l) {
    LayerShape s;
    s.inputs = w[l] + (l == 0 && spec_.time_input ? 1 : 0);
    s.outputs = w[l + 1];
    s.weight_offset = param_count_;
    s.bias_offset = param_count_ + s.outputs * s.inputs;
    param_count_ = s.bias_offset + s.outputs;
    layers_.push_back(s);
    if (l + 2 < w.size()) {
      max_hidden_ = std::max(max_hidden_, s.outputs);
      hidden_.emplace_back();
      derivative_.emplace_back();
    }
  }
  th_.resize(hidden_.size());
  td_.resize(hidden_.size());
  // Padded by one packet so the batch-1 kernel may read whole packets past the last row.
  first_bias_.setZero(layers_.front().outputs + Eigen::internal::packet_traits<T>::size);
  Index widest = 0;
  for (const LayerShape& s : layers_) widest = std::max({widest, s.inputs, s.outputs});
  slab_ = std::clamp<Index>(kPackBytes / (widest * Index{sizeof(T)}), 1, kMaxSlab);
  fixed_ = small_mlp::find<T>(spec_);
}

template <class T>
void Mlp<T>::allow_fixed_size_kernel(bool allow) {
  fixed_ = allow ? small_mlp::find<T>(spec_) : nullptr;
}

template <class T>
std::string Mlp<T>::name() const {
  return fmt::format("mlp:{} {}{}", join_widths(spec_.widths), activation_name(spec_.activation),
                     spec_.time_input ? " time-input" : "");
}

template <class T>
Index Mlp<T>::intermediate_floats(Index batch) const {
  Index hidden_units = 0;
  for (std::size_t l = 0; l < hidden_.size(); ++l) hidden_units += layers_[l].outputs;
  if (!uses_forward_cache(batch)) return 2 * hidden_units * std::min(batch, slab_);
  return (1 + kForwardEntries) * 2 * hidden_units * slab_ +
         kForwardEntries * state_dim() * slab_ + param_count_;
}

template <class T>
bool Mlp<T>::uses_forward_cache(Index batch) const {
  return !hidden_.empty() && batch >= kForwardCacheMinBatch && batch <= slab_;
}

template <class T>
void Mlp<T>::sync_forward_cache(const T* theta) const {
  if (forward_cache_.empty()) {
    reserve(slab_);
    forward_cache_.resize(kForwardEntries);
    for (ForwardEntry& e : forward_cache_) {
      e.hidden = hidden_;
      e.derivative = derivative_;
    }
    theta_copy_ = ConstVectorMap<T>(theta, param_count_);
    return;
  }
  if (std::equal(theta, theta + param_count_, theta_copy_.data(),
                 [](T a, T b) { return std::memcmp(&a, &b, sizeof(T)) == 0; }))
    return;
  theta_copy_ = ConstVectorMap<T>(theta, param_count_);
  for (ForwardEntry& e : forward_cache_) e.valid = false;
}

template <class T>
void Mlp<T>::store_forward(T t, const ConstBatchRef<T>& y) const {
  ForwardEntry& e = forward_cache_[next_entry_];
  next_entry_ = (next_entry_ + 1) % kForwardEntries;
  e.hidden.swap(hidden_);
  e.derivative.swap(derivative_);
  e.y = y;
  e.t = t;
  e.valid = true;
}

template <class T>
bool Mlp<T>::take_forward(T t, const ConstBatchRef<T>& y) const {
  for (ForwardEntry& e : forward_cache_) {
    // Bits, not ==: the result must be the one a recompute would give.
    if (!e.valid || std::memcmp(&e.t, &t, sizeof(T)) != 0 || e.y.cols() != y.cols()) continue;
    bool same = true;
    for (Index j = 0; j < y.cols() && same; ++j)
      same = std::memcmp(e.y.col(j).data(), y.col(j).data(), sizeof(T) * y.rows()) == 0;
    if (!same) continue;
    e.hidden.swap(hidden_);
    e.derivative.swap(derivative_);
    e.valid = false;  // it now holds the old working buffers
    return true;
  }
  return false;
}

template <class T>
void Mlp<T>::record_forwards(Index max_floats, TapeOrder order) const {
  if (max_floats > 0) {
    drop_forwards();
    // A smaller bound now: release the memory (`data = {}` would keep its capacity).
    if (Index(tape_.data.capacity()) > max_floats) decltype(tape_.data)().swap(tape_.data);
    tape_.order = order;
  }
  tape_.max_floats = std::max<Index>(max_floats, 0);
}

template <class T>
void Mlp<T>::drop_forwards() const {
  tape_.data.clear();  // capacity kept: the next gradient records as much again
  tape_.start.clear();
  tape_.batch.clear();
  tape_.theta = nullptr;
  tape_.theta_checked = false;
}

template <class T>
bool Mlp<T>::tape_keeps(std::size_t l, Index batch) const {
  // Narrow batches keep every layer: there the recompute is latency-bound and costs more than
  // moving an entry through memory (reference gradient batch 1: 4.3 → 3.6 ms). At wide ones an
  // entry streams through DRAM (σ of a 64 × 256 double layer: 128 KiB, ~13 µs written and read
  // back), which pays only where the recompute is a real GEMM (64 × 64 · 64 × 256 and its tanh:
  // ~76 µs); a layer of few inputs costs little more than its tanh to redo, so it is redone and
  // the bound holds twice the entries (docs/performance.md, "Session 7").
  return batch < kForwardCacheMinBatch || layers_[l].inputs >= kWideTapeMinInputs;
}

template <class T>
Index Mlp<T>::tape_entry_floats(Index batch) const {
  Index units = 0;
  for (std::size_t l = 0; l < hidden_.size(); ++l)
    if (tape_keeps(l, batch)) units += layers_[l].outputs;
  const Index per_unit = spec_.activation == Activation::tanh ? 1 : 2;
  return units == 0 ? 0 : 1 + (state_dim() + per_unit * units) * batch;
}

template <class T>
bool Mlp<T>::records(Index batch) const {
  if (tape_.max_floats == 0 || hidden_.empty()) return false;
  // A narrow batch is kept from the scratch of one slab (wide ones go slab by slab): one
  // wider than the slab (a layer wider than 512 double units makes slabs of < 32 columns) is
  // not kept, so it never runs past the scratch.
  if (batch < kForwardCacheMinBatch && batch > slab_) return false;
  // Step order's wide batches keep the forward cache instead (it serves them as well).
  if (batch >= kForwardCacheMinBatch && tape_.order == TapeOrder::step) return false;
  const Index floats = tape_entry_floats(batch);
  return floats > 0 && Index(tape_.data.size()) + floats <= tape_.max_floats;
}

template <class T>
void Mlp<T>::adopt_theta(const T* theta) const {
  if (tape_.order == TapeOrder::step && tape_.theta != theta) {
    // θ by address (see TapeOrder::step): no copy per step, whose tape lives for one step.
    drop_forwards();
    tape_.theta = theta;
  } else if (tape_.theta != theta) {
    // Every entry is computed with the θ of the first; another θ starts the tape afresh.
    if (!tape_.start.empty() &&
        std::memcmp(tape_.theta_copy.data(), theta, sizeof(T) * param_count_) != 0)
      drop_forwards();
    if (tape_.start.empty()) tape_.theta_copy = ConstVectorMap<T>(theta, param_count_);
    tape_.theta = theta;
  }
}

template <class T>
T* Mlp<T>::start_entry(T t, const ConstBatchRef<T>& y, const T* theta, Index floats) const {
  adopt_theta(theta);
  auto& data = tape_.data;
  // Wide entries reserve the whole bound at once: growing by doubling would copy the entries
  // kept so far, through DRAM, at every doubling (the pages are touched only as written).
  if (y.cols() >= kForwardCacheMinBatch && Index(data.capacity()) < tape_.max_floats) {
    data.reserve(std::size_t(tape_.max_floats));
    advise_huge_pages(data.data(), data.capacity() * sizeof(T));
  }
  const std::size_t at = data.size();
  tape_.start.push_back(at);
  tape_.batch.push_back(y.cols());
  data.resize(at + std::size_t(floats));
  T* p = data.data() + at;
  *p++ = t;
  for (Index j = 0; j < y.cols(); ++j, p += y.rows()) std::copy_n(y.col(j).data(), y.rows(), p);
  tape_.theta_checked = false;
  return p;
}

template <class T>
void Mlp<T>::push_forward(T t, const ConstBatchRef<T>& y, const T* theta) const {
  const Index batch = y.cols();
  T* p = start_entry(t, y, theta, tape_entry_floats(batch));
  for (std::size_t l = 0; l < hidden_.size(); ++l)
    p = std::copy_n(hidden_[l].data(), layers_[l].outputs * batch, p);
  // tanh' = (1 − σ)(1 + σ) is rebuilt from σ when the entry is taken (the same two roundings
  // as the forward's), so a tanh entry keeps σ alone: half the memory traffic.
  if (spec_.activation != Activation::tanh)
    for (std::size_t l = 0; l < hidden_.size(); ++l)
      p = std::copy_n(derivative_[l].data(), layers_[l].outputs * batch, p);
}

template <class T>
void Mlp<T>::forward_taped(T t, const ConstBatchRef<T>& y, const T* theta, T* kept, Index batch,
                           Index c, bool into_tape) const {
  const Index n = y.cols();
  const bool is_tanh = spec_.activation == Activation::tanh;
  for (std::size_t l = 0; l < hidden_.size(); ++l) {
    const LayerShape& s = layers_[l];
    const bool keep = tape_keeps(l, batch);
    T* h = hidden_[l].data();
    T* d = derivative_[l].data();
    if (keep) {
      h = kept + s.outputs * c;
      if (!is_tanh) d = kept + s.outputs * (batch + c);
      kept += s.outputs * batch * (is_tanh ? 1 : 2);
    }
    th_[l] = h;
    td_[l] = d;
    if (keep && !into_tape) {
      if (is_tanh)
        for (Index i = 0; i < s.outputs * n; ++i) d[i] = (T(1) - h[i]) * (T(1) + h[i]);
      continue;
    }
    // Only tanh is computed in place in the entry: tanh_run gives a value the same bits
    // wherever it sits, while Eigen's vectorised exp (the other activations) peels to the
    // packets' alignment, so those run in the aligned scratch, as a recompute does, and are
    // copied in.
    const bool in_place = !keep || is_tanh;
    MatrixMap<T> out(in_place ? h : hidden_[l].data(), s.outputs, n);
    if (l == 0)
      layer_forward(s, spec_.time_input, t, y, theta, first_bias_, out);
    else
      layer_forward(s, false, t, ConstMatrixMap<T>(th_[l - 1], s.inputs, n), theta, first_bias_,
                    out);
    // σ' is wanted by the vjp, and kept in the entry unless it is rebuilt from σ.
    if (into_tape && is_tanh) {
      activate<T>(spec_.activation, out);
    } else {
      MatrixMap<T> derivative(in_place ? d : derivative_[l].data(), s.outputs, n);
      activate<T>(spec_.activation, out, derivative);
      if (!in_place) {
        std::copy_n(out.data(), s.outputs * n, h);
        std::copy_n(derivative.data(), s.outputs * n, d);
      }
    }
  }
}

template <class T>
void Mlp<T>::eval_into_tape(T t, const ConstBatchRef<T>& y, const T* theta, BatchRef<T> dy) const {
  const Index batch = y.cols();
  T* kept = start_entry(t, y, theta, tape_entry_floats(batch));
  for (Index c = 0; c < batch; c += slab_) {
    const Index n = std::min(slab_, batch - c);
    forward_taped(t, y.middleCols(c, n), theta, kept, batch, c, true);
    layer_forward(layers_.back(), false, t, ConstMatrixMap<T>(th_.back(), layers_.back().inputs, n),
                  theta, first_bias_, dy.middleCols(c, n));
  }
}

template <class T>
void Mlp<T>::vjp_from_tape(T t, const ConstBatchRef<T>& y, const T* theta,
                           const ConstBatchRef<T>& a, BatchRef<T> y_bar, T* theta_bar) const {
  const Index batch = y.cols();
  for (Index c = 0; c < batch; c += slab_) {
    const Index n = std::min(slab_, batch - c);
    forward_taped(t, y.middleCols(c, n), theta, wide_entry_, batch, c, false);
    backward_slab(t, y.middleCols(c, n), theta, a.middleCols(c, n), y_bar.middleCols(c, n),
                  theta_bar, th_.data(), td_.data());
  }
}

template <class T>
T* Mlp<T>::open_fixed_entry(T t, const T* y, const T* theta) const {
  if (tape_.max_floats == 0) return nullptr;
  // What records(1) and tape_entry_floats(1) come to for the fixed path's shape (one tanh
  // layer, batch 1: t, y, σ), without their loops over the layers.
  const Index floats = 1 + state_dim() + fixed_->hidden;
  if (Index(tape_.data.size()) + floats > tape_.max_floats) return nullptr;
  // The whole entry in one resize; the kernel writes σ straight into it.
  return start_entry(t, ConstMatrixMap<T>(y, state_dim(), 1), theta, floats);
}

template <class T>
void Mlp<T>::fixed_eval(T t, const T* y, const T* theta, T* dy) const {
  // The fixed-size kernel (small_mlp.hpp), writing σ straight into a recorded entry; it needs
  // no scratch.
  fixed_->eval(t, y, theta, dy, open_fixed_entry(t, y, theta));
}

template <class T>
void Mlp<T>::fixed_vjp(T t, const T* y, const T* theta, const T* a, T* y_bar,
                       T* theta_bar) const {
  // On the tape's σ when an entry is at (t, y): the same backward code on the same σ as the
  // recompute, so bit for bit its result. The kernel rebuilds tanh' from σ itself and needs no
  // scratch.
  const bool taken = top_forward(t, ConstMatrixMap<T>(y, state_dim(), 1), theta, false);
  fixed_->vjp(t, y, theta, a, y_bar, theta_bar, taken ? th_[0] : nullptr);
  if (taken && tape_.order == TapeOrder::reverse) pop_forward();
}

template <class T>
void Mlp<T>::eval_column(T t, const T* y, Index rows, const ConstVectorRef<T>& theta,
                         T* dy) const {
  if (fixed_ == nullptr || rows != state_dim() || output_dim() != rows)
    return VectorField<T>::eval_column(t, y, rows, theta, dy);  // eval checks the shapes
  check_theta(theta.size(), theta.size());
  fixed_eval(t, y, theta.data(), dy);
}

template <class T>
void Mlp<T>::vjp_column(T t, const T* y, Index rows, const ConstVectorRef<T>& theta, const T* a,
                        T* y_bar, VectorRef<T> theta_bar) const {
  if (fixed_ == nullptr || rows != state_dim() || output_dim() != rows)
    return VectorField<T>::vjp_column(t, y, rows, theta, a, y_bar, theta_bar);
  check_theta(theta.size(), theta_bar.size());
  fixed_vjp(t, y, theta.data(), a, y_bar, theta_bar.data());
}

template <class T>
template <class View>
bool Mlp<T>::top_forward(T t, const View& y, const T* theta, bool derivative) const {
  if (tape_.start.empty()) return false;
  const bool step = tape_.order == TapeOrder::step;
  if (step && tape_.theta != theta) return false;
  if (!step && (!tape_.theta_checked || tape_.theta != theta)) {
    // Once per run of VJPs: θ must still hold the values the entries were computed with.
    if (std::memcmp(tape_.theta_copy.data(), theta, sizeof(T) * param_count_) != 0) {
      drop_forwards();
      return false;
    }
    tape_.theta = theta;
    tape_.theta_checked = true;
  }
  // The last entry, or one of the few below it: an evaluation whose VJP never comes (one of
  // dense output's, say) must not block the entries under it. Entries above the one taken
  // are such strays and are dropped.
  const auto matches = [&](std::size_t e) {
    const T* entry = tape_.data.data() + tape_.start[e];
    // Bits, not ==: the result must be the one a recompute would give.
    if (tape_.batch[e] != y.cols() || !same_bits(entry, &t, 1)) return false;
    const T* key = entry + 1;
    for (Index j = 0; j < y.cols(); ++j, key += y.rows())
      if (!same_bits(key, y.col(j).data(), y.rows())) return false;
    return true;
  };
  // TapeOrder::step searches the whole tape (one step's evaluations) and keeps every entry,
  // trying the one below the last taken first: a search from the top costs a mispredicted
  // branch per entry passed (perf: the search's exit was a fifth of top_forward).
  constexpr std::size_t kDepth = 4;
  std::size_t k = tape_.start.size();
  bool found = false;
  if (step && tape_.below_taken < k && matches(tape_.below_taken)) {
    k = tape_.below_taken;
    found = true;
  }
  const std::size_t lowest = k > kDepth && !step ? k - kDepth : 0;
  while (k > lowest && !found) found = matches(--k);
  if (!found) return false;
  if (step) tape_.below_taken = k - 1;  // k = 0 wraps to an index no entry has
  if (!step)
    while (tape_.start.size() > k + 1) pop_forward();
  T* p = tape_.data.data() + tape_.start[k] + 1 + y.rows() * y.cols();
  if (y.cols() >= kForwardCacheMinBatch) {  // vjp_from_tape walks it slab by slab
    wide_entry_ = p;
    return true;
  }
  for (std::size_t l = 0; l < hidden_.size(); ++l, p += layers_[l - 1].outputs * y.cols())
    th_[l] = p;
  if (spec_.activation == Activation::tanh) {
    for (std::size_t l = 0; l < hidden_.size() && derivative; ++l) {
      T* d = derivative_[l].data();
      for (Index i = 0; i < layers_[l].outputs * y.cols(); ++i)
        d[i] = (T(1) - th_[l][i]) * (T(1) + th_[l][i]);
      td_[l] = d;
    }
  } else {
    for (std::size_t l = 0; l < hidden_.size(); ++l, p += layers_[l - 1].outputs * y.cols())
      td_[l] = p;
  }
  // The next VJP takes the entry below: start its first lines on their way from L3 now (a
  // step's entries are still in L1).
  if (!step && tape_.start.size() >= 2) {
    const char* below = reinterpret_cast<const char*>(tape_.data.data() +
                                                      tape_.start[tape_.start.size() - 2]);
    const std::size_t bytes = std::min<std::size_t>(
        sizeof(T) * (tape_.start.back() - tape_.start[tape_.start.size() - 2]), 4096);
    for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(below + b);
  }
  return true;
}

template <class T>
void Mlp<T>::pop_forward() const {
  tape_.data.resize(tape_.start.back());
  tape_.start.pop_back();
  tape_.batch.pop_back();
}

template <class T>
void Mlp<T>::defer_weight_gradients(T* target) const {
  flush_weight_gradients();
  deferred_.target = target;
}

template <class T>
void Mlp<T>::flush_weight_gradients() const {
  DeferredGradients& k = deferred_;
  if (k.columns > 0)
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      if (!defers_layer(l)) continue;
      const LayerShape& s = layers_[l];
      const Index skip = (l == 0 && spec_.time_input) ? 1 : 0;
      add_deferred(l, k.columns, nullptr, k.target + s.weight_offset + skip * s.outputs, nullptr,
                   nullptr, nullptr);
    }
  k.columns = 0;
}

template <class T>
void Mlp<T>::drop_weight_gradients() const {
  deferred_.columns = 0;
}

template <class T>
bool Mlp<T>::defers_layer(std::size_t l) const {
  const Index inputs = layers_[l].inputs - (l == 0 && spec_.time_input ? 1 : 0);
  return inputs * layers_[l].outputs * Index(sizeof(T)) >= kDeferMinWeightBytes;
}

template <class T>
Index Mlp<T>::deferred_floats(Index batch) const {
  if (batch != 1) return 0;
  Index floats = 0;
  for (std::size_t l = 0; l < layers_.size(); ++l)
    if (defers_layer(l))
      floats += (layers_[l].inputs - (l == 0 && spec_.time_input ? 1 : 0) + layers_[l].outputs) *
                kDeferredColumns;
  return floats;
}

template <class T>
bool Mlp<T>::defers(Index batch, const T* theta_bar) const {
  DeferredGradients& k = deferred_;
  if (k.target == nullptr || k.target != theta_bar) return false;
  if (batch != 1) {  // its terms must come after the kept ones
    flush_weight_gradients();
    return false;
  }
  if (k.x.empty())
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const Index skip = (l == 0 && spec_.time_input) ? 1 : 0;  // t·g is added at once
      const Index columns = defers_layer(l) ? kDeferredColumns : 0;
      k.x.emplace_back(layers_[l].inputs - skip, columns);
      k.g.emplace_back(layers_[l].outputs, columns);
    }
  return true;
}

template <class T>
void Mlp<T>::add_deferred(std::size_t l, int m, const T* w, T* w_bar, const T* g, const T* d,
                          T* g_in) const {
  const LayerShape& s = layers_[l];
  const Batch<T>& xk = deferred_.x[l];
  const Batch<T>& gk = deferred_.g[l];
  const T* xs[kDeferredColumns];
  const T* gs[kDeferredColumns];
  for (int c = 0; c < m; ++c) {
    xs[c] = xk.col(c).data();
    gs[c] = gk.col(c).data();
  }
  const Index rows = s.outputs, cols = xk.rows();
  if (g != nullptr) {  // the sweep of the VJP that fills the buffer: every term, and its pull
    gs[m - 1] = g;
    dense::backward_columns<T, kDeferredColumns, true>(w, w_bar, rows, rows, cols, g, xs, gs, d,
                                                       g_in);
    return;
  }
  // A flush: the m < kDeferredColumns terms kept so far, no pull.
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((m == I + 1 ? dense::backward_columns<T, I + 1, false>(w, w_bar, rows, rows, cols, g, xs, gs,
                                                            d, g_in)
                 : void()),
     ...);
  }(std::make_integer_sequence<int, kDeferredColumns>{});
}

template <class T>
std::unique_ptr<VectorField<T>> Mlp<T>::clone() const {
  return std::make_unique<Mlp<T>>(spec_);
}

template <class T>
void Mlp<T>::theta_size_error(Index theta_size, Index theta_bar_size) const {
  throw Error(fmt::format("{}: theta has {} entries (theta_bar {}), expected {}", name(),
                          theta_size, theta_bar_size, param_count_));
}

template <class T>
void Mlp<T>::reserve(Index batch) const {
  if (batch <= capacity_) return;
  for (std::size_t l = 0; l < hidden_.size(); ++l) {
    hidden_[l].resize(layers_[l].outputs, batch);
    derivative_[l].resize(layers_[l].outputs, batch);
  }
  cotangent_[0].resize(max_hidden_ * batch);
  cotangent_[1].resize(max_hidden_ * batch);
  capacity_ = batch;
}

template <class T>
void Mlp<T>::forward_hidden(T t, const ConstBatchRef<T>& y, const T* theta,
                            bool keep_derivative) const {
  const Index batch = y.cols();
  for (std::size_t l = 0; l < hidden_.size(); ++l) {
    auto h = hidden_[l].leftCols(batch);
    const bool with_time = l == 0 && spec_.time_input;
    if (l == 0)
      layer_forward(layers_[l], with_time, t, y, theta, first_bias_, h);
    else
      layer_forward(layers_[l], false, t, hidden_[l - 1].leftCols(batch), theta, first_bias_, h);
    if (keep_derivative)
      activate<T>(spec_.activation, h, derivative_[l].leftCols(batch));
    else
      activate<T>(spec_.activation, h);
  }
}

template <class T>
const T* Mlp<T>::forward_column(T t, const T* y, const T* theta, bool keep_derivative) const {
  const T* x = y;
  const bool fused_tanh = spec_.activation == Activation::tanh;
  for (std::size_t l = 0; l < hidden_.size(); ++l) {
    const LayerShape& s = layers_[l];
    const T* w = theta + s.weight_offset;
    const T* bias = theta + s.bias_offset;
    Index cols = s.inputs;
    if (l == 0 && spec_.time_input) {  // fold the t column into the bias, as layer_forward
      for (Index i = 0; i < s.outputs; ++i) first_bias_[i] = bias[i] + t * w[i];
      bias = first_bias_.data();
      w += s.outputs;
      --cols;
    }
    T* h = hidden_[l].data();
    T* d = keep_derivative ? derivative_[l].data() : nullptr;
    const bool padded = dense::tail_readable(w, s.outputs, s.outputs, cols, theta + param_count_,
                                             bias, bias == first_bias_.data()
                                                       ? first_bias_.data() + first_bias_.size()
                                                       : theta + param_count_);
    if (fused_tanh) {
      dense::forward<T, true>(w, s.outputs, s.outputs, cols, x, bias, h, d, padded);
    } else {
      dense::forward<T>(w, s.outputs, s.outputs, cols, x, bias, h, nullptr, padded);
      if (d != nullptr)
        activate<T>(spec_.activation, MatrixMap<T>(h, s.outputs, 1), MatrixMap<T>(d, s.outputs, 1));
      else
        activate<T>(spec_.activation, MatrixMap<T>(h, s.outputs, 1));
    }
    x = h;
  }
  return x;
}

template <class T>
void Mlp<T>::generic_eval_column(T t, const T* y, const T* theta, T* dy,
                                 bool keep_derivative) const {
  const T* x = forward_column(t, y, theta, keep_derivative);
  const LayerShape& s = layers_.back();
  const T* w = theta + s.weight_offset;
  const T* bias = theta + s.bias_offset;
  Index cols = s.inputs;
  if (hidden_.empty() && spec_.time_input) {
    for (Index i = 0; i < s.outputs; ++i) first_bias_[i] = bias[i] + t * w[i];
    bias = first_bias_.data();
    w += s.outputs;
    --cols;
  }
  const bool padded = dense::tail_readable(
      w, s.outputs, s.outputs, cols, theta + param_count_, bias,
      bias == first_bias_.data() ? first_bias_.data() + first_bias_.size() : theta + param_count_);
  dense::forward<T>(w, s.outputs, s.outputs, cols, x, bias, dy, nullptr, padded);
}

template <class T>
void Mlp<T>::generic_vjp_column(T t, const T* y, const T* theta, const T* a, T* y_bar,
                                T* theta_bar, bool defer) const {
  forward_column(t, y, theta, true);
  for (std::size_t l = 0; l < hidden_.size(); ++l) {
    th_[l] = hidden_[l].data();
    td_[l] = derivative_[l].data();
  }
  backward_column(t, y, theta, a, y_bar, theta_bar, th_.data(), td_.data(), defer);
}

template <class T>
void Mlp<T>::backward_column(T t, const T* y, const T* theta, const T* a, T* y_bar,
                             T* theta_bar, const T* const* h, const T* const* d,
                             bool defer) const {
  // As vjp_slab's backward, on one column: b̄ += g, the t column of W̄_1 += t·g, then one
  // sweep over W's columns accumulates W̄ and pulls g down (dense::backward_columns), or,
  // deferring, keeps (x, g) and pulls g down, adding the kept terms every fourth VJP.
  const T* g = a;
  const int column = deferred_.columns;
  for (std::size_t l = layers_.size(); l-- > 0;) {
    const LayerShape& s = layers_[l];
    const Index skip = (l == 0 && spec_.time_input) ? 1 : 0;
    T* w_bar = theta_bar + s.weight_offset;
    T* b_bar = theta_bar + s.bias_offset;
    for (Index i = 0; i < s.outputs; ++i) b_bar[i] += g[i];
    if (skip == 1)
      for (Index i = 0; i < s.outputs; ++i) w_bar[i] += t * g[i];
    T* g_in = l == 0 ? y_bar : cotangent_[(l - 1) % 2].data();
    const T* x = l == 0 ? y : h[l - 1];
    const T* w = theta + s.weight_offset + skip * s.outputs;
    const T* d_in = l == 0 ? nullptr : d[l - 1];
    if (!defer || !defers_layer(l)) {
      dense::backward_columns(w, w_bar + skip * s.outputs, s.outputs, s.outputs, s.inputs - skip,
                              g, x, d_in, g_in);
    } else {
      // Kept before the sweep: at layer 0 x is y, which ȳ may overwrite.
      std::copy(x, x + s.inputs - skip, deferred_.x[l].col(column).data());
      std::copy(g, g + s.outputs, deferred_.g[l].col(column).data());
      if (column + 1 == kDeferredColumns)
        add_deferred(l, kDeferredColumns, w, w_bar + skip * s.outputs, g, d_in, g_in);
      else
        dense::backward_columns<T, 0, true>(w, nullptr, s.outputs, s.outputs, s.inputs - skip, g,
                                            nullptr, nullptr, d_in, g_in);
    }
    g = g_in;
  }
  if (defer) deferred_.columns = (column + 1) % kDeferredColumns;
}

template <class T>
void Mlp<T>::eval(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                  BatchRef<T> dy) const {
  // name() formats a string, so it is only built once a check has failed.
  if (y.rows() != state_dim() || dy.rows() != output_dim() || dy.cols() != y.cols())
    throw Error(fmt::format("{}: eval got y {}×{} and dy {}×{}; expected {}", name(), y.rows(),
                            y.cols(), dy.rows(), dy.cols(),
                            output_dim() == state_dim() ? fmt::format("both {}×batch", state_dim())
                                                        : fmt::format("y {}×batch and dy {}×batch",
                                                                      state_dim(), output_dim())));
  check_theta(theta.size(), theta.size());
  if (fixed_ != nullptr && y.cols() == 1) {
    fixed_eval(t, y.data(), theta.data(), dy.data());
    return;
  }
  reserve(std::min(y.cols(), slab_));
  if (records(y.cols())) {
    if (y.cols() >= kForwardCacheMinBatch) {
      eval_into_tape(t, y, theta.data(), dy);
      return;
    }
    if (y.cols() == 1) {
      generic_eval_column(t, y.data(), theta.data(), dy.data(), true);
    } else {
      forward_hidden(t, y, theta.data(), true);
      layer_forward(layers_.back(), false, t, hidden_.back().leftCols(y.cols()), theta.data(),
                    first_bias_, dy);
    }
    push_forward(t, y, theta.data());
    return;
  }
  if (y.cols() == 1) {
    generic_eval_column(t, y.data(), theta.data(), dy.data());
    return;
  }
  // While direct backprop records, the forward cache is no use (its VJPs come long after the
  // evaluations), so wide batches evaluate without it: nothing kept, no σ' written.
  if (uses_forward_cache(y.cols()) && (tape_.max_floats == 0 || tape_.order == TapeOrder::step)) {
    sync_forward_cache(theta.data());
    forward_hidden(t, y, theta.data(), true);
    layer_forward(layers_.back(), false, t, hidden_.back().leftCols(y.cols()), theta.data(),
                  first_bias_, dy);
    store_forward(t, y);
    return;
  }
  for (Index c = 0; c < y.cols(); c += slab_) {
    const Index n = std::min(slab_, y.cols() - c);
    eval_slab(t, y.middleCols(c, n), theta.data(), dy.middleCols(c, n));
  }
}

template <class T>
void Mlp<T>::eval_slab(T t, const ConstBatchRef<T>& y, const T* theta, BatchRef<T> dy) const {
  forward_hidden(t, y, theta, false);
  const LayerShape& last = layers_.back();
  if (hidden_.empty())
    layer_forward(last, spec_.time_input, t, y, theta, first_bias_, dy);
  else
    layer_forward(last, false, t, hidden_.back().leftCols(y.cols()), theta, first_bias_, dy);
}

template <class T>
void Mlp<T>::vjp(T t, const ConstBatchRef<T>& y, const ConstVectorRef<T>& theta,
                 const ConstBatchRef<T>& a, BatchRef<T> y_bar, VectorRef<T> theta_bar) const {
  if (y.rows() != state_dim() || a.rows() != output_dim() || a.cols() != y.cols() ||
      y_bar.rows() != y.rows() || y_bar.cols() != y.cols())
    throw Error(fmt::format(
        "{}: vjp got y {}×{}, a {}×{}, y_bar {}×{}; expected {}", name(), y.rows(), y.cols(),
        a.rows(), a.cols(), y_bar.rows(), y_bar.cols(),
        output_dim() == state_dim()
            ? fmt::format("all {}×batch", state_dim())
            : fmt::format("y, y_bar {}×batch and a {}×batch", state_dim(), output_dim())));
  check_theta(theta.size(), theta_bar.size());
  if (fixed_ != nullptr && y.cols() == 1) {
    fixed_vjp(t, y.data(), theta.data(), a.data(), y_bar.data(), theta_bar.data());
    return;  // its shapes' layers are all too narrow to defer (kDeferMinWeightBytes)
  }
  const bool defer = defers(y.cols(), theta_bar.data());
  reserve(std::min(y.cols(), slab_));
  if (top_forward(t, y, theta.data())) {
    if (y.cols() == 1)
      backward_column(t, y.data(), theta.data(), a.data(), y_bar.data(), theta_bar.data(),
                      th_.data(), td_.data(), defer);
    else if (y.cols() >= kForwardCacheMinBatch)
      vjp_from_tape(t, y, theta.data(), a, y_bar, theta_bar.data());
    else
      backward_slab(t, y, theta.data(), a, y_bar, theta_bar.data(), th_.data(), td_.data());
    if (tape_.order == TapeOrder::reverse) pop_forward();
    return;
  }
  if (y.cols() == 1) {
    generic_vjp_column(t, y.data(), theta.data(), a.data(), y_bar.data(), theta_bar.data(), defer);
    return;
  }
  if (uses_forward_cache(y.cols())) {
    sync_forward_cache(theta.data());
    vjp_slab(t, y, theta.data(), a, y_bar, theta_bar.data(), take_forward(t, y));
    return;
  }
  for (Index c = 0; c < y.cols(); c += slab_) {
    const Index n = std::min(slab_, y.cols() - c);
    vjp_slab(t, y.middleCols(c, n), theta.data(), a.middleCols(c, n), y_bar.middleCols(c, n),
             theta_bar.data());
  }
}

template <class T>
void Mlp<T>::vjp_slab(T t, const ConstBatchRef<T>& y, const T* theta, const ConstBatchRef<T>& a,
                      BatchRef<T> y_bar, T* theta_bar, bool have_forward) const {
  if (!have_forward) forward_hidden(t, y, theta, true);
  for (std::size_t l = 0; l < hidden_.size(); ++l) {
    th_[l] = hidden_[l].data();
    td_[l] = derivative_[l].data();
  }
  backward_slab(t, y, theta, a, y_bar, theta_bar, th_.data(), td_.data());
}

template <class T>
void Mlp<T>::backward_slab(T t, const ConstBatchRef<T>& y, const T* theta,
                           const ConstBatchRef<T>& a, BatchRef<T> y_bar, T* theta_bar,
                           const T* const* h, const T* const* d) const {
  const Index batch = y.cols();

  // Layer l maps x_l to z_l; g is the cotangent of z_l. Accumulate W̄_l += g x_lᵀ and
  // b̄_l += Σ_batch g, then pass g_{l-1} = (W_lᵀ g) ⊙ σ'(z_{l-1}) down, or ȳ = W_lᵀ g at l = 0.
  // Cotangents ping-pong between two max_hidden × batch buffers (contiguous Maps).
  const auto backward = [&](std::size_t l, const auto& g) {
    const LayerShape& s = layers_[l];
    const Index skip = (l == 0 && spec_.time_input) ? 1 : 0;  // the t column of W_1
    const Index n_in = s.inputs - skip;
    const ConstMatrixMap<T> w(theta + s.weight_offset, s.outputs, s.inputs);
    MatrixMap<T> w_bar(theta_bar + s.weight_offset, s.outputs, s.inputs);
    VectorMap<T> b_bar(theta_bar + s.bias_offset, s.outputs);
    if (batch == 1) {
      const auto g1 = g.col(0);
      b_bar += g1;
      if (skip == 1) w_bar.col(0) += t * g1;
      dense::backward_columns(w.col(skip).data(), w_bar.col(skip).data(), w.outerStride(),
                              s.outputs, n_in, g1.data(),
                              l == 0 ? y.data() : h[l - 1], l == 0 ? nullptr : d[l - 1],
                              l == 0 ? y_bar.data() : cotangent_[(l - 1) % 2].data());
      return;
    }
    const auto accumulate = [&](const auto& x) {
      w_bar.rightCols(n_in).noalias() += g * x.transpose();
    };
    if (l == 0)
      accumulate(y);
    else
      accumulate(ConstMatrixMap<T>(h[l - 1], layers_[l - 1].outputs, batch));
    b_bar.noalias() += g.rowwise().sum();
    if (skip == 1) w_bar.col(0) += t * g.rowwise().sum();
    if (l == 0) {
      y_bar.noalias() = w.rightCols(n_in).transpose() * g;
      return;
    }
    MatrixMap<T> g_prev(cotangent_[(l - 1) % 2].data(), s.inputs, batch);
    g_prev.noalias() = w.transpose() * g;
    g_prev.array() *= ConstMatrixMap<T>(d[l - 1], s.inputs, batch).array();
  };

  backward(layers_.size() - 1, a);
  for (std::size_t l = layers_.size() - 1; l-- > 0;)
    backward(l, MatrixMap<T>(cotangent_[l % 2].data(), layers_[l].outputs, batch));
}

template <class T>
Vector<T> Mlp<T>::init_params(Init init, std::uint64_t seed) const {
  std::mt19937_64 rng(seed);
  // 53 random bits → [−bound, bound). std::uniform_real_distribution's mapping is
  // implementation-defined, so it would make θ differ between standard libraries.
  const auto uniform = [&rng](double bound) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    return bound * (2.0 * u - 1.0);
  };
  Vector<double> theta(param_count_);
  for (const LayerShape& s : layers_) {
    const auto fan_in = static_cast<double>(s.inputs);
    const auto fan_out = static_cast<double>(s.outputs);
    const double weight_bound = init == Init::pytorch_default ? 1.0 / std::sqrt(fan_in)
                                                              : std::sqrt(6.0 / (fan_in + fan_out));
    for (Index i = 0; i < s.outputs * s.inputs; ++i)
      theta[s.weight_offset + i] = uniform(weight_bound);
    for (Index i = 0; i < s.outputs; ++i)
      theta[s.bias_offset + i] =
          init == Init::pytorch_default ? uniform(1.0 / std::sqrt(fan_in)) : 0.0;
  }
  return theta.cast<T>();
}

template class Mlp<float>;
template class Mlp<double>;

template <class T>
DeferWeightGradients<T>::DeferWeightGradients(const VectorField<T>& field, VectorRef<T> theta_bar)
    : mlp_(dynamic_cast<const Mlp<T>*>(&field)), exceptions_(std::uncaught_exceptions()) {
  if (mlp_ != nullptr && theta_bar.size() == mlp_->param_count())
    mlp_->defer_weight_gradients(theta_bar.data());
  else
    mlp_ = nullptr;
}

template <class T>
DeferWeightGradients<T>::~DeferWeightGradients() {
  if (mlp_ == nullptr) return;
  if (std::uncaught_exceptions() > exceptions_) mlp_->drop_weight_gradients();
  mlp_->defer_weight_gradients(nullptr);
}

template <class T>
void DeferWeightGradients<T>::flush() {
  if (mlp_ != nullptr) mlp_->flush_weight_gradients();
}

template <class T>
void DeferWeightGradients<T>::drop() {
  if (mlp_ != nullptr) mlp_->drop_weight_gradients();
}

template <class T>
void DeferWeightGradients<T>::finish() {
  if (mlp_ != nullptr) mlp_->defer_weight_gradients(nullptr);
}

template class DeferWeightGradients<float>;
template class DeferWeightGradients<double>;

}  // namespace revode
