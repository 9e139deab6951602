// MPI for `moska-sim sweep` (see mpi_sweep.hpp). Everything MPI is behind MOSKA_HAVE_MPI, which
// CMake defines for the moska-sim executable only when it finds MPI and Boost.MPI.
#include "sim/cli/mpi_sweep.hpp"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "sim/util/error.hpp"

#ifdef MOSKA_HAVE_MPI
#include <mpi.h>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#endif

namespace moska::cli {

namespace {
const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}
// A non-negative integer from the environment, or nullopt.
[[maybe_unused]] std::optional<long> env_number(const char* name) {
  const char* v = env(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || n < 0) return std::nullopt;
  return n;
}
// Open MPI's mpirun sets OMPI_COMM_WORLD_*; srun and other launchers speak PMIx (PMIX_RANK) or PMI
// (PMI_RANK, PMI_SIZE; MPICH's Hydra, Intel MPI, srun --mpi=pmi2).
bool launched_by_mpi() {
  return env("OMPI_COMM_WORLD_SIZE") || env("PMIX_RANK") || env("PMI_SIZE") || env("PMI_RANK");
}
int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }
}  // namespace

#ifdef MOSKA_HAVE_MPI
struct SweepRanks::Mpi {
  // abort_on_exception = false: an InputError unwinding through a sweep finalises MPI normally
  // (every rank gets there) instead of calling MPI_Abort.
  boost::mpi::environment env{boost::mpi::threading::funneled, false};
  boost::mpi::communicator world;
  int node_ranks = 1;
};
#else
struct SweepRanks::Mpi {};
#endif

SweepRanks::SweepRanks() {
  if (!launched_by_mpi()) return;
#ifdef MOSKA_HAVE_MPI
  mpi_ = std::make_unique<Mpi>();
  rank_ = mpi_->world.rank();
  size_ = mpi_->world.size();
  MPI_Comm node;
  MPI_Comm_split_type(mpi_->world, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &mpi_->node_ranks);
  MPI_Comm_free(&node);
#else
  long size = env_number("OMPI_COMM_WORLD_SIZE").value_or(env_number("PMI_SIZE").value_or(1));
  long rank = env_number("OMPI_COMM_WORLD_RANK")
                  .value_or(env_number("PMIX_RANK").value_or(env_number("PMI_RANK").value_or(0)));
  if (size > 1 || rank > 0) {
    throw InputError(fmt::format(
        "an MPI launcher started this process as rank {} of {}, but this moska-sim was built without MPI "
        "(every rank would run the whole sweep): run it without mpirun/srun, or install MPI and Boost.MPI "
        "(tools/setup.sh) and rebuild",
        rank, size > 1 ? fmt::format("{}", size) : std::string("several")));
  }
#endif
}

SweepRanks::~SweepRanks() = default;

int SweepRanks::default_threads() const {
  if (!mpi_) return hardware_threads();
#ifdef MOSKA_HAVE_MPI
  int mine = hardware_threads();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) mine = std::max(1, CPU_COUNT(&set));
  return std::max(1, std::min(mine, hardware_threads() / std::max(1, mpi_->node_ranks)));
#else
  return hardware_threads();
#endif
}

std::vector<int> SweepRanks::all_gather(int flag) const {
  if (!mpi_) return {flag};
#ifdef MOSKA_HAVE_MPI
  std::vector<int> out;
  boost::mpi::all_gather(mpi_->world, flag, out);
  return out;
#else
  return {flag};
#endif
}

std::vector<std::vector<std::string>> SweepRanks::all_gather_rows(const std::vector<std::string>& rows) const {
  if (!mpi_) return {rows};
#ifdef MOSKA_HAVE_MPI
  std::vector<std::vector<std::string>> out;
  boost::mpi::all_gather(mpi_->world, rows, out);
  return out;
#else
  return {rows};
#endif
}

std::vector<std::vector<std::string>> SweepRanks::gather_to_root(const std::vector<std::string>& rows) const {
  if (!mpi_) return {rows};
#ifdef MOSKA_HAVE_MPI
  std::vector<std::vector<std::string>> out;
  if (rank_ == 0) {
    boost::mpi::gather(mpi_->world, rows, out, 0);
  } else {
    boost::mpi::gather(mpi_->world, rows, 0);
  }
  return out;
#else
  return {rows};
#endif
}

std::exception_ptr SweepRanks::input_failure(const std::exception& e) const {
  return rank_ == 0 ? std::current_exception()
                    : std::make_exception_ptr(InputError(fmt::format("rank {}: {}", rank_, e.what())));
}

bool SweepRanks::any_failed(const std::exception_ptr& failure) const {
  const auto failed = all_gather(failure ? 1 : 0);
  const auto first = std::find(failed.begin(), failed.end(), 1);
  if (first == failed.end()) return false;
  if (first - failed.begin() == rank_) std::rethrow_exception(failure);
  return true;
}

}  // namespace moska::cli
