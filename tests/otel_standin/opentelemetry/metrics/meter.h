// Stand-in (tests/otel_standin/README.md): the Meter calls the adapter makes.
#pragma once
#include <cstdint>
#include "opentelemetry/nostd/shared_ptr.h"
#include "opentelemetry/nostd/string_view.h"
#include "opentelemetry/nostd/unique_ptr.h"

namespace opentelemetry {
namespace metrics {

// Declared only, as the real meter.h does: the adapter includes
// sync_instruments.h and async_instruments.h itself.
template <class T>
class Counter;
template <class T>
class Histogram;
class ObservableInstrument;

class Meter {
 public:
  virtual ~Meter() = default;
  virtual nostd::unique_ptr<Counter<uint64_t>> CreateUInt64Counter(
      nostd::string_view name, nostd::string_view description = "",
      nostd::string_view unit = "") noexcept = 0;
  virtual nostd::unique_ptr<Histogram<double>> CreateDoubleHistogram(
      nostd::string_view name, nostd::string_view description = "",
      nostd::string_view unit = "") noexcept = 0;
  virtual nostd::shared_ptr<ObservableInstrument> CreateDoubleObservableGauge(
      nostd::string_view name, nostd::string_view description = "",
      nostd::string_view unit = "") noexcept = 0;
};

}  // namespace metrics
}  // namespace opentelemetry
