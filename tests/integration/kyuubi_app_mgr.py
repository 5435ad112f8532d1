"""kyuubi.engine.appMgrInfo as Kyuubi writes and reads it, for the tests of
every discovery backend (the published value must survive Kyuubi's own
decoding)."""
import base64
import json
import os
import subprocess

from engine import JDK_BIN, missing

# An ApplicationManagerInfo as Kyuubi's ApplicationManagerInfo.serialize
# writes it (Jackson JSON, java.util.Base64.getEncoder): this one has a '/'
# in its Base64 (the '?' of the URL), which a znode name cannot hold.
APP_MGR = {"resourceManager": "http://rm:8088/?q=1",
           "kubernetesInfo": {"context": None, "namespace": None}}
APP_MGR_INFO = base64.b64encode(json.dumps(APP_MGR, separators=(",", ":")).encode()).decode()
assert "/" in APP_MGR_INFO
# The same JSON with '?' as \u003f: standard Base64 without '/'.
APP_MGR_INFO_PUBLISHED = base64.b64encode(
    json.dumps(APP_MGR, separators=(",", ":")).replace("?", "\\u003f").encode()).decode()

KYUUBI_DECODE = """
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
public class KyuubiDecode {
  public static void main(String[] a) throws Exception {
    // ApplicationManagerInfo.deserialize: Base64.getDecoder, UTF-8, Jackson
    String json = new String(Base64.getDecoder().decode(a[0].getBytes()), StandardCharsets.UTF_8);
    System.out.println(new ObjectMapper().readTree(json).toString());
  }
}
"""
JACKSON = ["/usr/share/java/jackson-databind.jar", "/usr/share/java/jackson-core.jar",
           "/usr/share/java/jackson-annotations.jar"]


def kyuubi_decode_app_mgr_info(tmp_path, value):
    """Decode a published appMgrInfo the way Kyuubi's gateway does, in Java
    (java.util.Base64.getDecoder refuses '_' and '-'), and parse its JSON."""
    for j in JACKSON:
        if not os.path.exists(j):
            missing(j + " (make deps: libjackson2-databind-java)")
    src = tmp_path / "KyuubiDecode.java"
    src.write_text(KYUUBI_DECODE)
    cp = ":".join(JACKSON)
    subprocess.run([os.path.join(JDK_BIN, "javac"), "-cp", cp, "-d", str(tmp_path), str(src)],
                   check=True, capture_output=True, timeout=120)
    r = subprocess.run([os.path.join(JDK_BIN, "java"), "-cp", cp + ":" + str(tmp_path),
                        "KyuubiDecode", value], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)
