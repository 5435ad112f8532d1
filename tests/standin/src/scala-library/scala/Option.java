package scala;

/** Stand-in for scala.Option: only what JNI callers and the stand-in itself need. */
public abstract class Option<A> implements java.io.Serializable {
  Option() {}

  /** Static forwarder of Option$.apply: null becomes None. */
  @SuppressWarnings("unchecked")
  public static <A> Option<A> apply(A value) {
    return value == null ? (Option<A>) None$.MODULE$ : new Some<A>(value);
  }

  @SuppressWarnings("unchecked")
  public static <A> Option<A> empty() {
    return (Option<A>) None$.MODULE$;
  }

  public abstract A get();

  public abstract boolean isEmpty();

  public boolean isDefined() {
    return !isEmpty();
  }

  public boolean nonEmpty() {
    return !isEmpty();
  }
}
