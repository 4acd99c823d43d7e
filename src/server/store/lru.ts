// An intrusive doubly linked list: items carry their own prev/next links, so
// moving an item to the front or unlinking it is O(1) with no allocation.

export interface LruNode<T extends LruNode<T>> { prev: T | null; next: T | null }

export class LruList<T extends LruNode<T>> {
  head: T | null = null // most recently used
  tail: T | null = null // least recently used
  length = 0

  pushFront(node: T): void {
    node.prev = null
    node.next = this.head
    if (this.head !== null) this.head.prev = node
    else this.tail = node
    this.head = node
    this.length++
  }

  remove(node: T): void {
    if (node.prev !== null) node.prev.next = node.next
    else this.head = node.next
    if (node.next !== null) node.next.prev = node.prev
    else this.tail = node.prev
    node.prev = null
    node.next = null
    this.length--
  }

  moveToFront(node: T): void {
    if (this.head === node) return
    this.remove(node)
    this.pushFront(node)
  }

  clear(): void {
    this.head = null
    this.tail = null
    this.length = 0
  }
}
