// A fixed-capacity byte buffer with a consumed front and a writable tail, for relaying.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace pgb {

class ByteBuffer {
 public:
  explicit ByteBuffer(std::size_t capacity)
      : data_(capacity ? new char[capacity] : nullptr), capacity_(capacity) {}

  std::string_view readable() const { return {data_.get() + begin_, end_ - begin_}; }
  bool empty() const { return begin_ == end_; }
  std::size_t size() const { return end_ - begin_; }
  std::size_t capacity() const { return capacity_; }

  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Writable space after the readable bytes; moves them to the front first if that is needed
  // to offer at least `min_space` (or all the space there is).
  char* tail(std::size_t min_space = 1) {
    if (capacity_ - end_ < min_space && begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    return data_.get() + end_;
  }
  std::size_t tail_space() const { return capacity_ - end_; }
  void commit(std::size_t n) { end_ += n; }

  // Gives memory back while nothing is buffered: an idle client should not keep a relay buffer.
  void shrink_when_empty(std::size_t capacity) {
    if (!empty() || capacity_ <= capacity) return;
    data_.reset(new char[capacity]);
    capacity_ = capacity;
    begin_ = end_ = 0;
  }

  // Frees the memory while nothing is buffered (capacity 0 until the next reserve).
  void release_when_empty() {
    if (!empty()) return;
    data_.reset();
    capacity_ = begin_ = end_ = 0;
  }

  // Grows to hold at least `capacity` bytes, keeping the readable ones.
  void reserve(std::size_t capacity) {
    if (capacity <= capacity_) return;
    std::unique_ptr<char[]> bigger(new char[capacity]);
    if (!empty()) std::memcpy(bigger.get(), data_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace pgb
