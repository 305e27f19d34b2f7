#include <weft/core/log.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task_group.hpp>

#include <cstdint>
#include <new>
#include <string>
#include <utility>

#include "core/intrusive_list.hpp"

namespace weft {
namespace detail {

// The loop's list of its green threads (loop::green_threads_), so that a
// loop destroyed under them destroys them. A task_group's members lie
// together in it: link puts a member before its group's first.
struct green_threads {
  static void link(loop& l, task_context* ctx, task_context* before = nullptr) noexcept;
  static void unlink(task_context* ctx) noexcept;
  static void destroy_all(loop& l) noexcept;
};

namespace {
// Per thread, so that counting costs no atomic traffic between loops.
thread_local std::size_t frame_bytes = 0;
thread_local std::size_t frame_count = 0;

// Freed frames are kept per thread in size classes up to 4 KiB, so a
// coroutine called on a hot path (the HTTP server's read step, a handler,
// the 1.8 KiB frame a kept-alive connection takes back for each burst of
// requests) costs a list pop instead of malloc and free (bench/micro
// task_bench; up to 1 KiB, that frame cost the keep-alive request 2,269
// instructions, 1,931 with it recycled: bench/http/instructions.sh). The
// classes are glibc's chunk sizes (16-byte steps, 8 bytes of header), so a
// recycled frame costs no more memory than a malloc'd one. At most 64
// frames wait per class, and 64 KiB of them (35 of the HTTP request
// frame): 64 of every class up to 4 KiB could have held 32 MiB a thread,
// now at most 14 (found by review). Per class, so that frames of sizes no
// longer used, which nothing takes again, leave the hot ones their room,
// where a cap on all of them did not. Off under ASan, which must see
// every free.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool recycle_frames = false;
#else
constexpr bool recycle_frames = true;
#endif

struct frame_cache {
  static constexpr std::size_t granule = 16, classes = 256, max_free = 64;
  static constexpr std::size_t max_class_bytes = 64u << 10;
  struct node {
    node* next;
  };
  node* head[classes] = {};
  std::uint8_t count[classes] = {};

  // Class c holds the frames that glibc puts in a (c + 1) * 16-byte chunk.
  static std::size_t class_of(std::size_t size) noexcept { return (size + 8 - 1) / granule; }
  static std::size_t class_size(std::size_t c) noexcept { return (c + 1) * granule - 8; }
  ~frame_cache() {
    for (node*& h : head)
      while (h != nullptr) ::operator delete(std::exchange(h, h->next));
  }
};
thread_local frame_cache frames;
}  // namespace

void* allocate_frame(std::size_t size) {
  std::size_t c = frame_cache::class_of(size);
  void* p;
  if (recycle_frames && c < frame_cache::classes && frames.head[c] != nullptr) {
    p = std::exchange(frames.head[c], frames.head[c]->next);
    --frames.count[c];
  } else {
    p = ::operator new(c < frame_cache::classes ? frame_cache::class_size(c) : size);
  }
  frame_bytes += size;
  ++frame_count;
  return p;
}

void free_frame(void* p, std::size_t size) noexcept {
  frame_bytes -= size;
  --frame_count;
  std::size_t c = frame_cache::class_of(size);
  if (recycle_frames && c < frame_cache::classes && frames.count[c] < frame_cache::max_free &&
      (frames.count[c] + 1u) * frame_cache::class_size(c) <= frame_cache::max_class_bytes) {
    frames.head[c] = new (p) frame_cache::node{frames.head[c]};
    ++frames.count[c];
    return;
  }
  ::operator delete(p);
}

// What green_thread handles see. Apart from the context, so that a handle
// outlives the task safely.
// Reference-counted by hand (loop thread only): a shared_ptr in every
// context would cost 8 more bytes per green thread.
struct root_state {
  task_context* ctx = nullptr;  // null once the task has ended
  std::string name;
  int refs = 1;
};

void release_state(root_state* s) noexcept {
  if (s && --s->refs == 0) delete s;
}

static_assert(sizeof(task_context) <= 72, "task_context grew past an 80-byte malloc chunk");

namespace {

// The context and its accounting: counted with the frames, because it is
// part of what a green thread costs.
task_context* new_context() {
  void* p = allocate_frame(sizeof(task_context));
  return new (p) task_context();
}

void delete_context(task_context* ctx) noexcept {
  ctx->~task_context();
  free_frame(ctx, sizeof(task_context));
}

// Whether `e` is the cancellation that a cancelled task was asked to end by.
bool ended_as_asked(const task_context& ctx, const std::exception_ptr& e) noexcept {
  if (!ctx.cancelled()) return false;
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& ex) {
    return ex.code() == std::errc::operation_canceled;
  } catch (...) {
    return false;
  }
}

void log_task_exception(const task_context& ctx, const std::exception_ptr& e) noexcept {
  // A task that was cancelled and let the cancellation end it did what was
  // asked; that is not worth a log line.
  if (ended_as_asked(ctx, e)) return;
  const char* name = ctx.has_handle ? ctx.handle->name.c_str() : ctx.name;
  log_error({"task '", name, "' ended by exception: "}, e);
}

void end(task_context* ctx) noexcept;  // below

void start(loop& l, task<void> t, const char* name, root_state* state, task_group* group) {
  if (!t.valid()) return;
  // The context first: if it cannot be made, `t` still owns the frame and
  // destroys it (taken first, it leaked).
  task_context* ctx = new_context();
  task<void>::handle h = t.release();
  ctx->owner = &l;
  ctx->root = h.address();
  if (state) {
    ++state->refs;  // the context's reference, dropped when the task ends
    ctx->handle = state;
    ctx->has_handle = true;
    state->ctx = ctx;
  } else {
    ctx->name = name;
  }
  if (group)
    group->add(l, ctx);  // links it among its group's members
  else
    green_threads::link(l, ctx);
  h.promise().ctx = ctx;
  try {
    resume_later(l, h);  // the loop's ready queue may grow: std::bad_alloc
  } catch (...) {
    // Never to run: ended here, as at its end. Left linked, it stayed its
    // group's member and kept its frame, a connection's stream open, and
    // a graceful stop's wait() waiting (found by review).
    end(ctx);
    throw;
  }
}

// The end of a green thread, however it ends: its frame goes (its
// destructors run with the context still whole: a timeout guard restores
// the context's scope), then its group, list, handles and context learn.
void end(task_context* ctx) noexcept {
  // Still in the loop's list while the frame goes: a group that the frame
  // owned, destroyed with it, finds its member there and forgets it.
  std::coroutine_handle<>::from_address(ctx->root).destroy();
  if (ctx->group) ctx->group->remove(ctx);  // before unlink: it reads ctx->next
  green_threads::unlink(ctx);
  if (ctx->has_handle) {
    ctx->handle->ctx = nullptr;
    release_state(ctx->handle);
  }
  delete_context(ctx);
}

}  // namespace

void finish_green_thread(task_context* ctx, const std::exception_ptr& error) noexcept {
  if (error) log_task_exception(*ctx, error);
  // Destroying the frame runs its destructors: the task's sockets close here.
  end(ctx);
}

void green_threads::link(loop& l, task_context* ctx, task_context* before) noexcept {
  intrusive_list<task_context>::insert_before(l.green_threads_, before, ctx);
  l.destroy_green_threads_ = &destroy_all;
}

void green_threads::unlink(task_context* ctx) noexcept {
  intrusive_list<task_context>::unlink(ctx->owner->green_threads_, ctx);
}

void green_threads::destroy_all(loop& l) noexcept {
  // Every pending operation is cancelled first, while all the frames are
  // whole: a waiter leaves a queue that may outlive the loop (an event, a
  // channel), a timer leaves the heap, an fd loses its interest. The
  // resumptions this queues never run: loop::destroy_green_threads drops
  // them.
  for (task_context* c = l.green_threads_; c != nullptr; c = c->next) {
    c->root_cancelled = true;
    c->destroying = true;
    c->cancel_pending();
  }
  // Then the frames go. A destructor that spawns adds a task here, and it
  // is destroyed in turn, never started.
  while (task_context* c = l.green_threads_) end(c);
}

}  // namespace detail

std::size_t task_frame_bytes() noexcept {
  return detail::frame_bytes;
}
std::size_t task_frame_count() noexcept {
  return detail::frame_count;
}

green_thread spawn(loop& l, task<void> t, const char* name) {
  auto* state = new detail::root_state();
  state->name = name;
  green_thread g(state);  // takes the first reference
  detail::start(l, std::move(t), name, state, nullptr);
  return g;
}

green_thread::green_thread(const green_thread& o) noexcept : state_(o.state_) {
  if (state_) ++state_->refs;
}

green_thread& green_thread::operator=(const green_thread& o) noexcept {
  if (this != &o) {
    if (o.state_) ++o.state_->refs;
    detail::release_state(state_);
    state_ = o.state_;
  }
  return *this;
}

green_thread::~green_thread() {
  detail::release_state(state_);
}

void spawn_n(loop& l, task<void> t, const char* name) {
  detail::start(l, std::move(t), name, nullptr, nullptr);
}

void green_thread::cancel() noexcept {
  if (state_ && state_->ctx) state_->ctx->cancel_root();
}

bool green_thread::done() const noexcept {
  return !state_ || state_->ctx == nullptr;
}

const std::string& green_thread::name() const noexcept {
  static const std::string none;
  return state_ ? state_->name : none;
}

// A group's members are found through their loop's list, where they lie
// together from first_ on: the context has room for one list only (72
// bytes), and walking every green thread of the loop instead would make one
// group per connection cost time quadratic in the connections.
task_group::~task_group() {
  // Members still running go on alone (none when the loop went first).
  for (detail::task_context* c = first_; c != nullptr && c->group == this; c = c->next)
    c->group = nullptr;
}

void task_group::spawn(loop& l, task<void> t, const char* name) {
  detail::start(l, std::move(t), name, nullptr, this);
}

task<void> task_group::wait() {
  // The event is set when the last member ends, and reset by the next
  // spawn, which may come before this resumes: so look again.
  while (size_ != 0) co_await idle_.wait();
}

void task_group::cancel_all() noexcept {
  // Cancelling defers each resumption, so no member leaves the list while
  // this walks it.
  for (detail::task_context* c = first_; c != nullptr && c->group == this; c = c->next)
    c->cancel_root();
}

void task_group::add(loop& l, detail::task_context* ctx) noexcept {
  detail::green_threads::link(l, ctx, first_);  // every member runs on l (see the header)
  first_ = ctx;
  ctx->group = this;
  if (size_++ == 0) idle_.reset();
}

void task_group::remove(detail::task_context* ctx) noexcept {
  if (ctx == first_)
    first_ = ctx->next != nullptr && ctx->next->group == this ? ctx->next : nullptr;
  ctx->group = nullptr;
  if (--size_ == 0) idle_.set();
}

}  // namespace weft
