/// The TrainField of settings.field = "cde:FILE[,key=value...]": a neural CDE over a file of
/// observations, one sample per trajectory of the dataset (docs/training.md, "CDEs"). The CLI
/// (`revode train --field cde:...`) and Python (`revode.train(..., field="cde:...")`) both
/// train it through this one function.
#pragma once

#include "revode/train/dataset.hpp"
#include "revode/train/train_settings.hpp"
#include "revode/train/trainer.hpp"

namespace revode {

/// Sample b's path drives trajectory b and z0 is its first data point, so the file's batch must
/// equal data.trajectories() and the spec's hidden= the data's state dimension. θ is the
/// network F_θ alone (CdeNetworkField): the observations are data, held fixed. `columns`
/// restricts the CDE to a chunk's trajectories.
/// @throws revode::Error naming the spec, the dataset and what does not match.
TrainField cde_train_field(const TrainSettings& s, const Dataset& data);

}  // namespace revode
