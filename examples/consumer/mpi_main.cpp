// Data-parallel training through the installed revode::mpi component (docs/mpi.md): run as
// `mpirun -np P consumer_mpi`; each rank computes its chunks of a Lotka–Volterra ensemble and
// rank 0 prints the loss curve, which is the same for every P.
#include <cstdio>
#include <memory>

#include "revode/core/error.hpp"
#include "revode/mpi/mpi_communicator.hpp"
#include "revode/train/trainer.hpp"

int main() {
  using namespace revode;
  try {
    const mpi::Session session;
    const auto comm = std::make_shared<const mpi::Communicator>();
    Dataset data = make_dataset("ensemble:lotka-volterra:8");
    TrainSettings settings = data.suggested;
    settings.model.widths = {2, 16, 2};
    settings.iterations = 5;
    settings.batch_chunks = 4;
    Trainer trainer(std::move(data), settings, comm);
    trainer.run();
    if (comm->rank() == 0)
      for (const double loss : trainer.losses()) std::printf("%.17g\n", loss);
  } catch (const Error& e) {
    std::fprintf(stderr, "consumer_mpi: %s\n", e.what());
    return 2;
  }
  return 0;
}
