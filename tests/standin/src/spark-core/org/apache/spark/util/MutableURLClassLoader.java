package org.apache.spark.util;

import java.net.URL;
import java.net.URLClassLoader;

/** URLClassLoader whose addURL is public; SparkSubmit installs one as the context loader. */
public class MutableURLClassLoader extends URLClassLoader {
  static {
    ClassLoader.registerAsParallelCapable();
  }

  public MutableURLClassLoader(URL[] urls, ClassLoader parent) {
    super(urls, parent);
  }

  @Override
  public void addURL(URL url) {
    super.addURL(url);
  }
}
