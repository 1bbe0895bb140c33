// Pending<T> (client.h): single-consumer results of the client's asynchronous calls.
#include <utility>

#include "sdk/pending_state.h"
#include "sdk/sdk_error_code.h"

namespace ablo {

namespace pending_impl {
Error already_taken() { return sdk_detail::sdk_error("invalid_request", "this Pending's result was already taken"); }
Error on_io_thread() {
  return sdk_detail::sdk_error("invalid_request", "wait() on the client's I/O thread would deadlock; use then()");
}
}  // namespace pending_impl

template <class T>
Pending<T>::~Pending() = default;

template <class T>
bool Pending<T>::valid() const noexcept {
  if (!state_) return false;
  std::lock_guard lock(state_->mutex);
  return !state_->taken;
}

template <class T>
bool Pending<T>::ready() const {
  if (!state_) return false;
  std::lock_guard lock(state_->mutex);
  return state_->result.has_value();
}

template <class T>
Result<T> Pending<T>::wait_result() {
  if (!state_) return tl::unexpected(pending_impl::already_taken());
  std::unique_lock lock(state_->mutex);
  if (state_->taken) return tl::unexpected(pending_impl::already_taken());
  if (!state_->result && std::this_thread::get_id() == state_->io_thread) {
    return tl::unexpected(pending_impl::on_io_thread());
  }
  state_->ready.wait(lock, [&] { return state_->result.has_value(); });
  state_->taken = true;
  return std::move(*state_->result);
}

template <class T>
T Pending<T>::wait() {
  auto result = wait_result();
  if (!result) throw Exception(std::move(result.error()));
  return std::move(*result);
}

template <class T>
std::optional<Result<T>> Pending<T>::wait_for(std::chrono::milliseconds timeout) {
  if (!state_) return Result<T>(tl::unexpected(pending_impl::already_taken()));
  std::unique_lock lock(state_->mutex);
  if (state_->taken) return Result<T>(tl::unexpected(pending_impl::already_taken()));
  if (!state_->result && std::this_thread::get_id() == state_->io_thread) {
    return Result<T>(tl::unexpected(pending_impl::on_io_thread()));
  }
  if (!state_->ready.wait_for(lock, timeout, [&] { return state_->result.has_value(); })) return std::nullopt;
  state_->taken = true;
  return std::move(*state_->result);
}

template <class T>
void Pending<T>::then(std::shared_ptr<Executor> executor, std::function<void(Result<T>)> callback) && {
  if (!state_) return;
  std::unique_lock lock(state_->mutex);
  if (!executor) executor = state_->fallback ? state_->fallback : inline_executor();
  if (state_->taken) {
    lock.unlock();
    sdk_detail::PendingState<T>::post(executor, std::move(callback), tl::unexpected(pending_impl::already_taken()));
    return;
  }
  state_->taken = true;
  if (state_->result) {
    auto value = std::move(*state_->result);
    state_->result.reset();
    state_->delivered = true;
    lock.unlock();
    sdk_detail::PendingState<T>::post(executor, std::move(callback), std::move(value));
    return;
  }
  state_->callback = std::move(callback);
  state_->callback_executor = std::move(executor);
}

template class Pending<Unit>;
template class Pending<Receipt>;
template class Pending<CommitReceipt>;
template class Pending<Row>;
template class Pending<std::optional<Row>>;
template class Pending<std::vector<Row>>;
template class Pending<Claim>;
template class Pending<UndoResult>;

}  // namespace ablo
