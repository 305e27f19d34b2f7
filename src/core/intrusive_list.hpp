#pragma once
// Doubly linked lists threaded through their nodes, reached from a head
// pointer: the loop's green threads, a gate's holders, a server's
// connections. A node unlinks itself in O(1) when it goes, whichever of it
// and its list goes first, and a list costs one pointer. The node names its
// links: `prev` and `next` unless told otherwise.
// Threading: the owner's (one loop thread).

namespace weft::detail {

template <class T, T* T::*Prev = &T::prev, T* T::*Next = &T::next>
struct intrusive_list {
  static void push_front(T*& head, T* n) noexcept {
    n->*Prev = nullptr;
    n->*Next = head;
    if (head) head->*Prev = n;
    head = n;
  }
  // Links n just before `pos`, a node of the list, or at the front when
  // pos is null.
  static void insert_before(T*& head, T* pos, T* n) noexcept {
    if (!pos) return push_front(head, n);
    n->*Prev = pos->*Prev;
    n->*Next = pos;
    (pos->*Prev ? pos->*Prev->*Next : head) = n;
    pos->*Prev = n;
  }
  static void unlink(T*& head, T* n) noexcept {
    (n->*Prev ? n->*Prev->*Next : head) = n->*Next;
    if (n->*Next) n->*Next->*Prev = n->*Prev;
    n->*Prev = n->*Next = nullptr;
  }
  // n takes `from`'s place in the list (a node that was moved).
  static void replace(T*& head, T* from, T* n) noexcept {
    n->*Prev = from->*Prev;
    n->*Next = from->*Next;
    from->*Prev = from->*Next = nullptr;
    (n->*Prev ? n->*Prev->*Next : head) = n;
    if (n->*Next) n->*Next->*Prev = n;
  }
};

}  // namespace weft::detail
