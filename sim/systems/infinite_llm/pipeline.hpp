#pragma once
// vLLM-single's pipeline (one instance over `stages` TP groups, each holding 1/stages of the
// layers): a step's batch cut into m micro-batches that flow through the stages, micro-batch k
// taking c_k (the whole model's time for it; c_k / stages on each stage). Two schedules:
//   flush  (GPipe, the pipeline drains every step):  (sum_k c_k + (stages-1) max_k c_k) / stages;
//          m equal micro-batches of c: (m+stages-1) c / stages, the ideal m c / stages over
//          (1 - bubble), bubble = (stages-1) / (m+stages-1);
//   steady (vLLM's virtual engines: micro-batches of successive steps keep every stage busy, no
//          bubble): max(sum_k c_k / stages, max_k c_k) (a stage's work, or one micro-batch's trip).
// m = 1 gives c under both: the stages one after another (the serial lower bound). The activations
// of the largest micro-batch cross each stage boundary once on the critical path: over NVLink
// inside a node, over the NIC where the boundary falls between nodes (stages_per_node stages a node).
#include <cstdint>
#include <span>
#include <vector>

#include "sim/model/operators.hpp"

namespace moska::infinite_llm {

enum class PipelineSchedule { flush, steady };

// The step's compute from the micro-batches' whole-model times (the formulas above).
double pipeline_compute_s(std::span<const double> microbatch_s, int stages, PipelineSchedule schedule);

// Stage boundaries (of stages - 1) that cross nodes when each node holds `stages_per_node` stages.
int cross_node_boundaries(int stages, int stages_per_node);

// Cuts `batch` into at most `m` micro-batches (fewer when it has fewer decodes + prefill tokens):
// decodes evenly (the first ones one more; KV tokens in proportion), prefill tokens in equal shares
// in order (a chunk may be cut; its later pieces' past includes the earlier). `out` is reused.
void split_microbatches(const BatchSpec& batch, int m, std::vector<BatchSpec>& out);

}  // namespace moska::infinite_llm
