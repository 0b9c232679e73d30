// Stand-in (tests/otel_standin/README.md): attributes as key-value pairs.
#pragma once
#include <cstddef>
#include <functional>
#include <string_view>
#include <variant>

namespace opentelemetry {
namespace common {

using AttributeValue = std::variant<bool, int64_t, double, std::string_view>;

class KeyValueIterable {
 public:
  virtual ~KeyValueIterable() = default;
  virtual bool ForEachKeyValue(
      std::function<bool(std::string_view, AttributeValue)> callback) const noexcept = 0;
  virtual size_t size() const noexcept = 0;
};

// Over a container of pairs whose second converts to a string_view (a
// std::map<std::string, std::string>, say).
template <class T>
class KeyValueIterableView final : public KeyValueIterable {
 public:
  explicit KeyValueIterableView(const T& container) noexcept : container_(&container) {}
  bool ForEachKeyValue(
      std::function<bool(std::string_view, AttributeValue)> callback) const noexcept override {
    for (const auto& [k, v] : *container_) {
      if (!callback(k, AttributeValue(std::string_view(v)))) return false;
    }
    return true;
  }
  size_t size() const noexcept override { return container_->size(); }

 private:
  const T* container_;
};

}  // namespace common
}  // namespace opentelemetry
