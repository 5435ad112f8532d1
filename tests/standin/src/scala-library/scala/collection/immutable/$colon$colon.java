package scala.collection.immutable;

public final class $colon$colon<A> extends List<A> {
  private final A head;
  private final List<A> next;

  public $colon$colon(A head, List<A> next) {
    this.head = head;
    this.next = next;
  }

  @Override
  public A head() {
    return head;
  }

  @Override
  public List<A> tail() {
    return next;
  }

  @Override
  public boolean isEmpty() {
    return false;
  }
}
