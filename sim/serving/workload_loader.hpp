#pragma once
#include <vector>

#include "sim/serving/scenario.hpp"
#include "sim/workload/request.hpp"

namespace moska {

// The scenario's requests: read from its trace or drawn from its generator (seeded).
std::vector<Request> load_workload(const Scenario& sc);

}  // namespace moska
