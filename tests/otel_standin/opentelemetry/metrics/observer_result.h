// Stand-in (tests/otel_standin/README.md).
#pragma once
#include <cstdint>
#include "opentelemetry/common/key_value_iterable_view.h"
#include "opentelemetry/nostd/shared_ptr.h"
#include "opentelemetry/nostd/variant.h"

namespace opentelemetry {
namespace metrics {

template <class T>
class ObserverResultT {
 public:
  virtual ~ObserverResultT() = default;
  virtual void Observe(T value, const common::KeyValueIterable& attributes) noexcept = 0;
};

using ObserverResult = nostd::variant<nostd::shared_ptr<ObserverResultT<int64_t>>,
                                      nostd::shared_ptr<ObserverResultT<double>>>;

}  // namespace metrics
}  // namespace opentelemetry
