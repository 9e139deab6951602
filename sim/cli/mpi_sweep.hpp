#pragma once
// The ranks of `moska-sim sweep` when an MPI launcher (mpirun, srun, mpiexec) started it: rank r
// takes points r, r + size, ..., and rank 0 gathers the rows. Without a launcher, or in a build
// without MPI (MOSKA_HAVE_MPI undefined), it is one rank of one and never touches MPI, so plain runs
// never initialise MPI. Only the thread that constructed it may call its methods (MPI "funneled").
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace moska::cli {

class SweepRanks {
 public:
  // Initialises MPI when the environment says an MPI launcher started this process (Open MPI's
  // OMPI_COMM_WORLD_SIZE, PMIx's PMIX_RANK, PMI's PMI_SIZE/PMI_RANK). Throws InputError when
  // launched as one of several ranks by a binary built without MPI (every rank would run everything).
  SweepRanks();
  ~SweepRanks();
  SweepRanks(const SweepRanks&) = delete;
  SweepRanks& operator=(const SweepRanks&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Threads when --jobs is not given: all cores without MPI; under MPI the cores this rank may run
  // on (its affinity mask), at most the node's cores divided by the ranks sharing the node.
  int default_threads() const;
  // Collective: every rank's flag, by rank.
  std::vector<int> all_gather(int flag) const;
  // Collective: every rank's rows by rank, on every rank.
  std::vector<std::vector<std::string>> all_gather_rows(const std::vector<std::string>& rows) const;
  // Collective: on rank 0, every rank's rows by rank; elsewhere empty.
  std::vector<std::vector<std::string>> gather_to_root(const std::vector<std::string>& rows) const;

  // Every rank validates the same input, so they fail alike. Inside the catch of an InputError:
  // the error to report (other ranks' messages name their rank).
  std::exception_ptr input_failure(const std::exception& e) const;
  // Collective, after the validation: the flags are exchanged (a rank that cannot read a file
  // another can read must not leave the others waiting); if any rank failed, the lowest failing
  // rank rethrows its error and the others return true (they exit 2 without printing).
  bool any_failed(const std::exception_ptr& failure) const;

 private:
  struct Mpi;
  std::unique_ptr<Mpi> mpi_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace moska::cli
