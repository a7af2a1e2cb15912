#include "nft_table.hpp"

#include "rsagent/util/text.hpp"

#include <nftables/libnftables.h>

#include <cerrno>
#include <memory>

namespace rsagent::net::nft {

namespace {

struct CtxFree {
  void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};
using NftCtx = std::unique_ptr<nft_ctx, CtxFree>;

// nft reports errors as text; the errno it names, for the engine's
// "already gone" and for messages.
int errno_of(const std::string& message) {
  if (message.find("No such file or directory") != std::string::npos) return ENOENT;
  if (message.find("Operation not permitted") != std::string::npos) return EPERM;
  if (message.find("File exists") != std::string::npos) return EEXIST;
  return EINVAL;
}

struct Outcome {
  int rc = -1;
  std::string output;
  std::string error;
};

Outcome run_buffer(const std::string& commands) {
  Outcome o;
  NftCtx ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) {
    o.error = "cannot make an nftables context";
    return o;
  }
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  o.rc = nft_run_cmd_from_buffer(ctx.get(), commands.c_str());
  if (const char* out = nft_ctx_get_output_buffer(ctx.get())) o.output = out;
  if (const char* err = nft_ctx_get_error_buffer(ctx.get())) o.error = err;
  return o;
}

}  // namespace

Result<std::optional<std::string>> list_table(const std::string& family, const std::string& name) {
  const Outcome o = run_buffer("list table " + family + " " + name);
  if (o.rc == 0) return std::optional<std::string>(o.output);
  if (errno_of(o.error) == ENOENT) return std::optional<std::string>();
  return errno_error(errno_of(o.error), text::one_line(o.error));
}

Status run(const std::string& commands) {
  const Outcome o = run_buffer(commands);
  if (o.rc == 0) return {};
  return errno_error(errno_of(o.error), text::one_line(o.error));
}

}  // namespace rsagent::net::nft
