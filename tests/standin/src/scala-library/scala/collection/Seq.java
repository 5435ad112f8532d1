package scala.collection;

/** The few Seq operations a JNI caller may use (length/size/apply/isEmpty). */
public interface Seq<A> {
  int length();

  int size();

  A apply(int index);

  boolean isEmpty();
}
