package scala.collection.immutable;

/** Immutable cons list: either {@code $colon$colon} (a non-empty cell) or {@code Nil$}. */
public abstract class List<A> implements Seq<A>, java.io.Serializable {
  List() {}

  public abstract A head();

  public abstract List<A> tail();

  @Override
  public int length() {
    int n = 0;
    for (List<A> l = this; !l.isEmpty(); l = l.tail()) {
      n++;
    }
    return n;
  }

  @Override
  public int size() {
    return length();
  }

  @Override
  public A apply(int index) {
    List<A> l = this;
    for (int i = 0; i < index && !l.isEmpty(); i++) {
      l = l.tail();
    }
    if (index < 0 || l.isEmpty()) {
      throw new IndexOutOfBoundsException(index + " is out of bounds (min 0, max " + (length() - 1) + ")");
    }
    return l.head();
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("List(");
    for (List<A> l = this; !l.isEmpty(); l = l.tail()) {
      if (l != this) {
        sb.append(", ");
      }
      sb.append(l.head());
    }
    return sb.append(')').toString();
  }
}
