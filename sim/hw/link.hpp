#pragma once
// A shared link (an RDMA NIC, a PCIe lane group) with a bandwidth and a latency, driven by the
// event engine. Concurrent transfers share the bandwidth fairly (processor sharing: each of n
// transfers in flight gets bw/n); each transfer's bytes start leaving at its start time, and the
// transfer is delivered `latency` after its last byte has left (so a transfer alone takes
// latency + bytes/bw, and the latency is paid once per transfer, not per byte or per share change).
//
// Implementation: virtual time. V(t) counts the bytes served to each transfer in flight
// (dV/dt = bw/n); a transfer of B bytes started when V = v0 drains when V reaches v0 + B. Only the
// next drain is scheduled on the Simulator; it is cancelled and rescheduled whenever a transfer
// starts or drains, so each start/finish costs O(log n).
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "sim/engine/simulator.hpp"

namespace moska {

class Link {
 public:
  using Done = std::function<void()>;

  // Throws InputError unless bw_bps > 0 and latency_s >= 0. `sim` must outlive the link.
  Link(Simulator& sim, double bw_bps, double latency_s, std::string name = "link");
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Starts a transfer of `bytes` (>= 0) now; `on_done` runs when it is delivered. Returns its id.
  std::uint64_t start(double bytes, Done on_done);

  std::size_t in_flight() const { return active_.size(); }  // transfers still sending bytes
  std::uint64_t started() const { return next_id_; }
  std::uint64_t delivered() const { return delivered_; }
  double bytes_started() const { return bytes_started_; }
  double bandwidth_bps() const { return bw_; }
  double latency_s() const { return latency_s_; }
  const std::string& name() const { return name_; }

 private:
  struct Active {
    double finish_tag;  // value of V at which it drains
    std::uint64_t id;
    bool operator<(const Active& o) const { return finish_tag != o.finish_tag ? finish_tag < o.finish_tag : id < o.id; }
  };
  void advance();     // brings V up to now
  void reschedule();  // (re)schedules the next drain
  void on_drain();

  Simulator& sim_;
  double bw_;
  double latency_s_;
  TimeNs latency_ns_;
  std::string name_;
  double v_ = 0;            // virtual bytes served per active transfer
  TimeNs v_at_ = 0;         // time at which v_ was last brought up to date
  std::set<Active> active_;
  std::map<std::uint64_t, Done> callbacks_;
  EventId next_event_;
  std::uint64_t next_id_ = 0;
  std::uint64_t delivered_ = 0;
  double bytes_started_ = 0;
};

}  // namespace moska
