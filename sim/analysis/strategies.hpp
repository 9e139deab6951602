#pragma once
// predict's comparison for a MoSKA decode batch: the same batch under each registered system's way
// of attending the shared context (System::strategy), costed on the same GPU.
#include "sim/analysis/predict.hpp"

namespace moska {

// Fills r.strategies when r is a decode over a shared context (mode "moska-decode").
void add_strategies(PredictResult& r);

}  // namespace moska
