#include <weft/core/log.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task_group.hpp>

#include <string>

namespace weft {
namespace detail {

namespace {
// Per thread, so that counting costs no atomic traffic between loops.
thread_local std::size_t frame_bytes = 0;
thread_local std::size_t frame_count = 0;
}  // namespace

void* allocate_frame(std::size_t size) {
  void* p = ::operator new(size);
  frame_bytes += size;
  ++frame_count;
  return p;
}

void free_frame(void* p, std::size_t size) noexcept {
  frame_bytes -= size;
  --frame_count;
  ::operator delete(p, size);
}

// What a green_thread handle sees. Apart from the root frame, so that a
// handle outlives the task safely.
struct root_state {
  task_context* ctx = nullptr;  // null once the task has ended
  std::string name;
};

namespace {

// The root coroutine of a green thread. Its promise holds the context; it
// does not suspend at the end, so its frame frees itself.
struct root {
  struct promise_type {
    task_context ctx;
    root get_return_object() noexcept {
      return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept {}  // run_root lets nothing escape
    static void* operator new(std::size_t size) { return allocate_frame(size); }
    static void operator delete(void* p, std::size_t size) noexcept { free_frame(p, size); }
  };
  std::coroutine_handle<promise_type> h;
};

// Starts the task with the root's context, and hands that context back.
struct enter_task {
  task<void>::handle h;
  task_context* ctx = nullptr;
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<root::promise_type> caller) noexcept {
    ctx = &caller.promise().ctx;
    h.promise().continuation = caller;
    h.promise().ctx = ctx;
    return h;
  }
  task_context* await_resume() const noexcept { return ctx; }
};

void log_task_exception(const task_context& ctx, const std::exception_ptr& e) noexcept {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& ex) {
    // A task that was cancelled and let the cancellation end it did what
    // was asked; that is not worth a log line.
    if (ex.code() == std::errc::operation_canceled && ctx.cancelled()) return;
    what = ex.what();
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  log_error("task '" + ctx.name + "' ended by exception: " + what);
}

// Parameters by value: the task and the handle state live in this frame.
root run_root(task<void> t, std::shared_ptr<root_state> state) {
  task<void>::handle h = t.release();
  task_context* ctx = co_await enter_task{h};
  if (h.promise().error) log_task_exception(*ctx, h.promise().error);
  // Destroying the task's frame runs its destructors: sockets close here.
  h.destroy();
  if (state) state->ctx = nullptr;
  if (ctx->group) ctx->group->remove(ctx);
}

void start(loop& l, task<void> t, std::string name, std::shared_ptr<root_state> state,
           task_group* group) {
  root r = run_root(std::move(t), state);
  task_context& ctx = r.h.promise().ctx;
  ctx.owner = &l;
  ctx.name = std::move(name);
  if (state) state->ctx = &ctx;
  if (group) group->add(&ctx);
  resume_later(l, r.h);
}

}  // namespace
}  // namespace detail

std::size_t task_frame_bytes() noexcept { return detail::frame_bytes; }
std::size_t task_frame_count() noexcept { return detail::frame_count; }

green_thread spawn(loop& l, task<void> t, std::string name) {
  auto state = std::make_shared<detail::root_state>();
  state->name = name;
  detail::start(l, std::move(t), std::move(name), state, nullptr);
  return green_thread(std::move(state));
}

void spawn_n(loop& l, task<void> t, std::string name) {
  detail::start(l, std::move(t), std::move(name), nullptr, nullptr);
}

task_group::~task_group() {
  while (head_) remove(head_);
}

void task_group::spawn(loop& l, task<void> t, std::string name) {
  detail::start(l, std::move(t), std::move(name), nullptr, this);
}

void task_group::cancel_all() noexcept {
  // Cancelling defers each resumption, so no member leaves the list while
  // this walks it.
  for (detail::task_context* c = head_; c != nullptr; c = c->group_next) c->cancel(c->root_scope);
}

void task_group::add(detail::task_context* ctx) noexcept {
  ctx->group = this;
  ctx->group_prev = nullptr;
  ctx->group_next = head_;
  if (head_) head_->group_prev = ctx;
  head_ = ctx;
  if (size_++ == 0) idle_.reset();
}

void task_group::remove(detail::task_context* ctx) noexcept {
  (ctx->group_prev ? ctx->group_prev->group_next : head_) = ctx->group_next;
  if (ctx->group_next) ctx->group_next->group_prev = ctx->group_prev;
  ctx->group = nullptr;
  ctx->group_prev = ctx->group_next = nullptr;
  if (--size_ == 0) idle_.set();
}

void green_thread::cancel() noexcept {
  if (state_ && state_->ctx) state_->ctx->cancel(state_->ctx->root_scope);
}

bool green_thread::done() const noexcept { return !state_ || state_->ctx == nullptr; }

const std::string& green_thread::name() const noexcept {
  static const std::string none;
  return state_ ? state_->name : none;
}

}  // namespace weft
