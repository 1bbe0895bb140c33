#include "net/dialect_outbox.h"

#include <spdlog/spdlog.h>

#include "net/claims_codec.h"

namespace ablo::net {

namespace {
constexpr std::size_t kReplyCost = 512;  // what a held reply counts for, before it is rendered
}  // namespace

DialectOutbox::DialectOutbox(fanout::Outbox& coordination, std::weak_ptr<fanout::Outbox> socket)
    : coordination_(coordination), socket_(std::move(socket)) {}

std::optional<Dialect> DialectOutbox::dialect() const {
  std::lock_guard lock(mutex_);
  return dialect_;
}

void DialectOutbox::decide(Dialect dialect) {
  std::lock_guard lock(mutex_);
  if (dialect_ || ended_) return;
  dialect_ = dialect;
  auto held = std::move(held_);
  held_.clear();
  held_bytes_ = 0;
  for (auto& item : held) {
    if (item.reply) {
      reply_locked(item.reply);
    } else {
      forward_locked(std::move(item.frame), item.fence);
    }
  }
}

void DialectOutbox::refuse(int code, std::string reason) {
  std::lock_guard lock(mutex_);
  if (ended_) return;
  ended_ = true;
  held_.clear();
  held_bytes_ = 0;
  if (auto socket = socket_.lock()) socket->close(code, std::move(reason));
}

void DialectOutbox::push_reply(Render render) {
  std::lock_guard lock(mutex_);
  if (ended_) return;
  if (dialect_) {
    reply_locked(render);
  } else {
    hold_locked(Held{{}, std::move(render), std::nullopt}, kReplyCost);
  }
}

void DialectOutbox::push_frame(std::string frame) {
  std::lock_guard lock(mutex_);
  if (ended_) return;
  if (dialect_) {
    forward_locked(std::move(frame), std::nullopt);
  } else {
    const auto bytes = frame.size();
    hold_locked(Held{std::move(frame), {}, std::nullopt}, bytes);
  }
}

void DialectOutbox::push_after_deltas(std::string frame, int64_t fence) {
  std::lock_guard lock(mutex_);
  if (ended_) return;
  if (dialect_) {
    forward_locked(std::move(frame), fence);
  } else {
    const auto bytes = frame.size();
    hold_locked(Held{std::move(frame), {}, fence}, bytes);
  }
}

// Deltas are dialect-neutral (both clients accept our wire delta): never held or rewritten.
void DialectOutbox::push_delta(std::shared_ptr<const fanout::EncodedDelta> delta) { push_deltas({&delta, 1}); }

void DialectOutbox::push_deltas(std::span<const std::shared_ptr<const fanout::EncodedDelta>> deltas) {
  coordination_.push_deltas(deltas);
}

void DialectOutbox::push_catch_up(std::string frame, int64_t last_delta_id) {
  coordination_.push_catch_up(std::move(frame), last_delta_id);
}

void DialectOutbox::close(int code, std::string reason) {
  std::lock_guard lock(mutex_);
  ended_ = true;
  held_.clear();
  held_bytes_ = 0;
  coordination_.close(code, std::move(reason));
}

void DialectOutbox::hold_locked(Held held, std::size_t bytes) {
  if (held_.size() + 1 > kMaxHeldFrames || held_bytes_ + bytes > kMaxHeldBytes) {
    spdlog::warn("closing a WebSocket whose dialect is still unknown after {} held frames", held_.size());
    ended_ = true;
    held_.clear();
    held_bytes_ = 0;
    // Through the socket: a held reply may arrive after the connection is gone.
    if (auto socket = socket_.lock()) socket->close(fanout::kSlowConsumerCloseCode, "dialect not revealed");
    return;
  }
  held_bytes_ += bytes;
  held_.push_back(std::move(held));
}

void DialectOutbox::forward_locked(std::string frame, std::optional<int64_t> fence) {
  if (*dialect_ == Dialect::kClaims) {
    auto rendered = claims_frame_of(frame);
    if (!rendered) {
      spdlog::debug("a coordination frame has no 0.49 form; not sent: {:.80}", frame);
      return;
    }
    frame = std::move(*rendered);
  }
  if (fence) {
    coordination_.push_after_deltas(std::move(frame), *fence);
  } else {
    coordination_.push_frame(std::move(frame));
  }
}

void DialectOutbox::reply_locked(const Render& render) {
  if (auto socket = socket_.lock()) socket->push_frame(render(*dialect_));
}

}  // namespace ablo::net
