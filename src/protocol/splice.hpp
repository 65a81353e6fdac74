// Edits to a relayed byte range, applied while it is written out: messages inserted,
// replaced or dropped, everything else still sent from the relay buffer without a copy.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pgb::protocol {

class Splice {
 public:
  // Replaces input bytes [from, to) with `bytes`. Edits must come in input order and not
  // overlap; from == to inserts, empty `bytes` drops.
  void replace(std::size_t from, std::size_t to, std::string_view bytes) {
    edits_.push_back({from, to, scratch_.size(), bytes.size()});
    scratch_.append(bytes);
  }
  void insert(std::size_t at, std::string_view bytes) { replace(at, at, bytes); }

  bool empty() const { return edits_.empty(); }
  void clear() {
    edits_.clear();
    scratch_.clear();
  }

  // Calls piece(std::string_view) for each non-empty piece of the edited input, in order.
  template <class F>
  void for_each_piece(std::string_view input, F&& piece) const {
    std::size_t at = 0;
    for (const auto& e : edits_) {
      if (e.from > at) piece(input.substr(at, e.from - at));
      if (e.length > 0) piece(std::string_view(scratch_).substr(e.offset, e.length));
      at = e.to;
    }
    if (input.size() > at) piece(input.substr(at));
  }

 private:
  struct Edit {
    std::size_t from, to;        // input range replaced
    std::size_t offset, length;  // replacement, in scratch_
  };
  std::vector<Edit> edits_;
  std::string scratch_;
};

}  // namespace pgb::protocol
