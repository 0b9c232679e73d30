// Stand-in (tests/otel_standin/README.md): the synchronous instruments.
#pragma once
#include "opentelemetry/common/key_value_iterable_view.h"
#include "opentelemetry/context/context.h"

namespace opentelemetry {
namespace metrics {

class SynchronousInstrument {
 public:
  virtual ~SynchronousInstrument() = default;
};

template <class T>
class Counter : public SynchronousInstrument {
 public:
  virtual void Add(T value, const common::KeyValueIterable& attributes,
                   const context::Context& context) noexcept = 0;
};

template <class T>
class Histogram : public SynchronousInstrument {
 public:
  virtual void Record(T value, const common::KeyValueIterable& attributes,
                      const context::Context& context) noexcept = 0;
};

}  // namespace metrics
}  // namespace opentelemetry
