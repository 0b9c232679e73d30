// Stand-in (tests/otel_standin/README.md).
#pragma once
#include "opentelemetry/metrics/observer_result.h"

namespace opentelemetry {
namespace metrics {

using ObservableCallbackPtr = void (*)(ObserverResult, void*);

class ObservableInstrument {
 public:
  virtual ~ObservableInstrument() = default;
  virtual void AddCallback(ObservableCallbackPtr, void* state) noexcept = 0;
  virtual void RemoveCallback(ObservableCallbackPtr, void* state) noexcept = 0;
};

}  // namespace metrics
}  // namespace opentelemetry
