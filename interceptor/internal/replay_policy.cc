#include "interceptor/internal/replay_policy.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/impl/codegen/grpc_types.h"

namespace authrefresh {
namespace internal {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr absl::string_view kUnauthenticated = "UNAUTHENTICATED";

// maxAttempts 2: the call and one replay. The backoff only spaces the
// replay from the rejection; the replay then waits for the refresh anyway.
Value ReplayRetryPolicy() {
  Struct policy;
  auto& f = *policy.mutable_fields();
  f["maxAttempts"].set_number_value(2);
  f["initialBackoff"].set_string_value("0.001s");
  f["maxBackoff"].set_string_value("0.001s");
  f["backoffMultiplier"].set_number_value(1);
  f["retryableStatusCodes"].mutable_list_value()->add_values()->set_string_value(
      std::string(kUnauthenticated));
  Value v;
  *v.mutable_struct_value() = std::move(policy);
  return v;
}

bool IsUnauthenticatedCode(const Value& code) {
  if (code.kind_case() == Value::kNumberValue) return code.number_value() == 16;
  return code.kind_case() == Value::kStringValue &&
         absl::AsciiStrToUpper(code.string_value()) == kUnauthenticated;
}

// A method config's names, as (service, method) pairs; "" where absent.
std::vector<std::pair<std::string, std::string>> NamesOf(const Struct& method_config) {
  std::vector<std::pair<std::string, std::string>> out;
  auto names = method_config.fields().find("name");
  if (names == method_config.fields().end() ||
      names->second.kind_case() != Value::kListValue) {
    return out;
  }
  for (const Value& name : names->second.list_value().values()) {
    if (name.kind_case() != Value::kStructValue) continue;
    const auto& n = name.struct_value().fields();
    auto service = n.find("service");
    auto method = n.find("method");
    out.emplace_back(service == n.end() ? "" : service->second.string_value(),
                     method == n.end() ? "" : method->second.string_value());
  }
  return out;
}

// Records in `scopes` which names `method_config` covers, and whether its
// retries are UNAUTHENTICATED only.
void RecordScopes(const Struct& method_config, bool other_codes,
                  RetryScopes* scopes) {
  for (const auto& [s, m] : NamesOf(method_config)) {
    if (s.empty()) {
      if (other_codes) scopes->AddAll();
    } else if (m.empty()) {
      other_codes ? scopes->AddService(absl::StrCat("/", s, "/"))
                  : scopes->ExcludeService(absl::StrCat("/", s, "/"));
    } else {
      other_codes ? scopes->AddMethod(absl::StrCat("/", s, "/", m))
                  : scopes->ExcludeMethod(absl::StrCat("/", s, "/", m));
    }
  }
}

bool CoversDefault(const Struct& method_config) {
  for (const auto& [service, method] : NamesOf(method_config)) {
    if (service.empty()) return true;
  }
  return false;
}

// Whether `method_config` names any of `excluded`; the names it has are
// removed from `unconfigured`.
bool NamesAnyOf(const Struct& method_config,
                const std::vector<MethodPolicy::ConfigName>& excluded,
                std::set<std::pair<std::string, std::string>>* unconfigured) {
  bool any = false;
  for (const auto& [s, m] : NamesOf(method_config)) {
    for (const MethodPolicy::ConfigName& e : excluded) {
      if (e.service == s && e.method == m) {
        any = true;
        unconfigured->erase({s, m});
      }
    }
  }
  return any;
}

bool RetriesOtherCodes(const Struct& method_config) {
  auto policy = method_config.fields().find("retryPolicy");
  if (policy == method_config.fields().end() ||
      policy->second.kind_case() != Value::kStructValue) {
    return false;
  }
  auto codes = policy->second.struct_value().fields().find("retryableStatusCodes");
  if (codes == policy->second.struct_value().fields().end() ||
      codes->second.kind_case() != Value::kListValue) {
    return false;
  }
  for (const Value& code : codes->second.list_value().values()) {
    if (!IsUnauthenticatedCode(code)) return true;
  }
  return false;
}

// Makes the method config `mc` (methodConfig[index]) replay UNAUTHENTICATED:
// its own retryPolicy gains the code, or it gets authrefresh's.
absl::Status AddReplay(int index, google::protobuf::Map<std::string, Value>* mc) {
  auto policy = mc->find("retryPolicy");
  if (policy == mc->end()) {
    (*mc)["retryPolicy"] = ReplayRetryPolicy();
    return absl::OkStatus();
  }
  if (policy->second.kind_case() != Value::kStructValue) {
    return absl::InvalidArgumentError(absl::StrCat(
        "authrefresh: methodConfig[", index, "].retryPolicy of the "
        "channel's service config is not an object"));
  }
  auto& p = *policy->second.mutable_struct_value()->mutable_fields();
  Value& codes = p["retryableStatusCodes"];
  if (codes.kind_case() != Value::kListValue) codes.mutable_list_value();
  for (const Value& code : codes.list_value().values()) {
    if (IsUnauthenticatedCode(code)) return absl::OkStatus();
  }
  codes.mutable_list_value()->add_values()->set_string_value(std::string(kUnauthenticated));
  return absl::OkStatus();
}

// A method config of their own for `names`, without a retryPolicy: more
// specific than the default, so gRPC never replays them.
Value ConfigWithoutReplay(const std::set<std::pair<std::string, std::string>>& names) {
  Value entry;
  auto& list = *(*entry.mutable_struct_value()->mutable_fields())["name"].mutable_list_value();
  for (const auto& [service, method] : names) {
    auto& n = *list.add_values()->mutable_struct_value()->mutable_fields();
    n["service"].set_string_value(service);
    if (!method.empty()) n["method"].set_string_value(method);
  }
  return entry;
}

}  // namespace

bool RetryScopes::Contains(absl::string_view method) const {
  if (methods_.contains(method)) return true;
  if (excluded_methods_.contains(method)) return false;
  const size_t slash = method.find('/', 1);
  if (slash != absl::string_view::npos) {
    const absl::string_view service = method.substr(0, slash + 1);
    if (services_.contains(service)) return true;
    if (excluded_services_.contains(service)) return false;
  }
  return all_;
}

RetryScopes RetryScopesOf(absl::string_view service_config_json) {
  RetryScopes scopes;
  Struct config;
  if (service_config_json.empty() ||
      !google::protobuf::util::JsonStringToMessage(std::string(service_config_json),
                                                   &config)
           .ok()) {
    return scopes;
  }
  auto list = config.fields().find("methodConfig");
  if (list == config.fields().end() ||
      list->second.kind_case() != Value::kListValue) {
    return scopes;
  }
  for (const Value& entry : list->second.list_value().values()) {
    if (entry.kind_case() != Value::kStructValue) continue;
    RecordScopes(entry.struct_value(), RetriesOtherCodes(entry.struct_value()),
                 &scopes);
  }
  return scopes;
}

absl::StatusOr<std::string> MergeReplayPolicy(
    absl::string_view app_json,
    const std::vector<MethodPolicy::ConfigName>& excluded) {
  Struct config;
  if (!app_json.empty()) {
    google::protobuf::util::JsonParseOptions parse;
    auto parsed = google::protobuf::util::JsonStringToMessage(
        std::string(app_json), &config, parse);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "authrefresh: the channel's service config (grpc.service_config) "
          "is not a JSON object: ",
          absl::StripPrefix(parsed.message().as_string(), ": ")));
    }
  }
  auto& fields = *config.mutable_fields();
  Value& list = fields["methodConfig"];
  if (list.kind_case() == Value::KIND_NOT_SET) list.mutable_list_value();
  if (list.kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError(
        "authrefresh: the channel's service config has a methodConfig that "
        "is not a list");
  }
  // Excluded names, until the application's config is found to name them.
  std::set<std::pair<std::string, std::string>> unconfigured;
  for (const MethodPolicy::ConfigName& n : excluded) {
    unconfigured.emplace(n.service, n.method);
  }
  bool has_default = false;
  int index = 0;
  for (Value& entry : *list.mutable_list_value()->mutable_values()) {
    if (entry.kind_case() != Value::kStructValue) {
      return absl::InvalidArgumentError(absl::StrCat(
          "authrefresh: methodConfig[", index, "] of the channel's service "
          "config is not an object"));
    }
    auto& mc = *entry.mutable_struct_value()->mutable_fields();
    if (mc.count("hedgingPolicy") > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "authrefresh: methodConfig[", index, "] of the channel's service "
          "config has a hedgingPolicy; authrefresh replays rejected calls "
          "with a retryPolicy, which gRPC does not combine with hedging"));
    }
    has_default = has_default || CoversDefault(entry.struct_value());
    if (NamesAnyOf(entry.struct_value(), excluded, &unconfigured)) {
      ++index;  // a method authrefresh leaves alone: the config is the app's
      continue;
    }
    if (absl::Status s = AddReplay(index, &mc); !s.ok()) return s;
    ++index;
  }
  if (!unconfigured.empty()) {
    *list.mutable_list_value()->add_values() = ConfigWithoutReplay(unconfigured);
  }
  if (!has_default) {
    Value entry;
    auto& mc = *entry.mutable_struct_value()->mutable_fields();
    mc["name"].mutable_list_value()->add_values()->mutable_struct_value();
    mc["retryPolicy"] = ReplayRetryPolicy();
    *list.mutable_list_value()->add_values() = std::move(entry);
  }
  std::string out;
  auto printed = google::protobuf::util::MessageToJsonString(config, &out);
  if (!printed.ok()) {
    return absl::InternalError(absl::StrCat(
        "authrefresh: could not write the service config: ",
        printed.message().as_string()));
  }
  return out;
}

absl::StatusOr<ReplayChannel> WithReplayPolicy(
    const grpc::ChannelArguments& args, size_t retry_buffer_bytes,
    const std::vector<MethodPolicy::ConfigName>& excluded) {
  const grpc_channel_args c = args.c_channel_args();
  std::string app_service_config;
  bool app_buffer = false;
  ReplayChannel out;
  for (size_t i = 0; i < c.num_args; ++i) {
    const grpc_arg& a = c.args[i];
    const absl::string_view key = a.key;
    if (key == GRPC_ARG_ENABLE_RETRIES && a.type == GRPC_ARG_INTEGER &&
        a.value.integer == 0) {
      return absl::FailedPreconditionError(
          "authrefresh: the channel arguments turn gRPC's retries off "
          "(grpc.enable_retries = 0), and authrefresh replays rejected calls "
          "through them; remove that argument");
    }
    // gRPC uses the first service config it finds.
    if (key == GRPC_ARG_SERVICE_CONFIG && a.type == GRPC_ARG_STRING &&
        app_service_config.empty()) {
      app_service_config = a.value.string;
    }
    if (key == GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE) app_buffer = true;
    if (key == GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM &&
        a.type == GRPC_ARG_INTEGER && a.value.integer > 0 &&
        a.value.integer < GRPC_COMPRESS_ALGORITHMS_COUNT) {
      out.default_compression = static_cast<grpc_compression_algorithm>(a.value.integer);
    }
  }
  absl::StatusOr<std::string> merged = MergeReplayPolicy(app_service_config, excluded);
  if (!merged.ok()) return merged.status();

  // ChannelArguments cannot remove an entry, so the application's are
  // copied into a new one, without its service config.
  const std::string default_agent = [] {
    const grpc::ChannelArguments defaults;
    const grpc_channel_args fresh = defaults.c_channel_args();
    for (size_t i = 0; i < fresh.num_args; ++i) {
      if (absl::string_view(fresh.args[i].key) == GRPC_ARG_PRIMARY_USER_AGENT_STRING) {
        return std::string(fresh.args[i].value.string);
      }
    }
    return std::string();
  }();
  for (size_t i = 0; i < c.num_args; ++i) {
    const grpc_arg& a = c.args[i];
    const absl::string_view key = a.key;
    if (key == GRPC_ARG_SERVICE_CONFIG) continue;
    if (key == GRPC_ARG_PRIMARY_USER_AGENT_STRING && a.type == GRPC_ARG_STRING) {
      // A fresh ChannelArguments already names gRPC; keep the prefix only.
      absl::string_view agent = a.value.string;
      if (agent == default_agent) continue;
      if (absl::EndsWith(agent, absl::StrCat(" ", default_agent))) {
        out.args.SetUserAgentPrefix(std::string(
            agent.substr(0, agent.size() - default_agent.size() - 1)));
        continue;
      }
    }
    switch (a.type) {
      case GRPC_ARG_STRING:
        out.args.SetString(std::string(key), a.value.string);
        break;
      case GRPC_ARG_INTEGER:
        out.args.SetInt(std::string(key), a.value.integer);
        break;
      case GRPC_ARG_POINTER:
        out.args.SetPointerWithVtable(std::string(key), a.value.pointer.p,
                                      a.value.pointer.vtable);
        break;
    }
  }
  out.args.SetServiceConfigJSON(*merged);
  if (!app_buffer && retry_buffer_bytes > 0) {
    out.args.SetInt(GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE,
                    static_cast<int>(std::min<size_t>(retry_buffer_bytes, INT32_MAX)));
  }
  return out;
}

}  // namespace internal
}  // namespace authrefresh
