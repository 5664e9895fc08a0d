/// Butcher tableaux as checked constexpr data (Butcher 2016, "Numerical Methods for ODEs", §23).
/// A tableau holds (A, b, c) and, for embedded pairs, the published lower-order weights b_hat;
/// FSAL and the error weights b − b_hat are derived, never typed twice.
#pragma once

#include <array>
#include <string_view>

namespace revode {

inline constexpr int kMaxStages = 7;

struct ButcherTableau {
  using Row = std::array<double, kMaxStages>;

  std::string_view name;
  int stages = 0;
  int order = 0;           ///< order of the propagated solution (weights b)
  int embedded_order = 0;  ///< order of the embedded solution (weights b_hat); 0 when none
  Row c{};
  std::array<Row, kMaxStages> a{};  ///< strictly lower triangular
  Row b{};
  Row b_hat{};  ///< as published; all zero when the tableau has no embedded method

  constexpr bool has_embedded() const { return embedded_order > 0; }

  /// First-same-as-last: the last stage is evaluated at (t1, y1), so it is the next step's
  /// first stage.
  constexpr bool is_fsal() const {
    if (stages < 2 || c[stages - 1] != 1.0 || b[stages - 1] != 0.0) return false;
    for (int j = 0; j < stages; ++j)
      if (a[stages - 1][j] != b[j]) return false;
    return true;
  }

  /// Weights of the error estimate y1 − ŷ1 = h Σ (b_i − b̂_i) k_i.
  constexpr double error_weight(int i) const { return has_embedded() ? b[i] - b_hat[i] : 0.0; }

  /// Explicit (A strictly lower triangular), c_i = Σ_j a_ij, Σ b = 1, Σ b_hat = 1.
  constexpr bool is_consistent(double tol = 1e-14) const {
    auto near = [tol](double x, double y) { return (x > y ? x - y : y - x) <= tol; };
    if (stages < 1 || stages > kMaxStages || order < 1 || c[0] != 0.0) return false;
    double sum_b = 0, sum_b_hat = 0;
    for (int i = 0; i < kMaxStages; ++i) {
      double row = 0;
      for (int j = 0; j < kMaxStages; ++j) {
        if ((j >= i || i >= stages) && a[i][j] != 0.0) return false;
        row += a[i][j];
      }
      if (i < stages && !near(row, c[i])) return false;
      if (i >= stages && (b[i] != 0.0 || b_hat[i] != 0.0 || c[i] != 0.0)) return false;
      sum_b += b[i];
      sum_b_hat += b_hat[i];
    }
    return near(sum_b, 1.0) && (!has_embedded() || near(sum_b_hat, 1.0));
  }
};

}  // namespace revode
