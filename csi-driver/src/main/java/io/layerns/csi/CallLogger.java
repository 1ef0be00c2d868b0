package io.layerns.csi;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import csi.v1.Csi;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs each gRPC call with its request and its response or error, with every field the CSI spec
 * marks {@code csi_secret} stripped (as host-path's logGRPC does through protosanitizer).
 */
public final class CallLogger implements ServerInterceptor {

  private static final Logger LOG = LoggerFactory.getLogger(CallLogger.class);

  static final String STRIPPED = "***stripped***";

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    String method = call.getMethodDescriptor().getFullMethodName();
    ServerCall<Q, R> logging =
        new SimpleForwardingServerCall<>(call) {
          @Override
          public void sendMessage(R message) {
            LOG.info("GRPC response {}: {}", method, describe(message));
            super.sendMessage(message);
          }

          @Override
          public void close(Status status, Metadata trailers) {
            if (!status.isOk()) {
              LOG.info("GRPC error {}: {} {}", method, status.getCode(), status.getDescription());
            }
            super.close(status, trailers);
          }
        };
    return new SimpleForwardingServerCallListener<>(next.startCall(logging, headers)) {
      @Override
      public void onMessage(Q message) {
        LOG.info("GRPC call {}: {}", method, describe(message));
        super.onMessage(message);
      }
    };
  }

  /** One line for a message, secrets replaced by {@value #STRIPPED}. */
  static String describe(Object message) {
    if (!(message instanceof Message m)) {
      return String.valueOf(message);
    }
    List<String> stripped = new ArrayList<>();
    Message clean = strip(m, "", stripped);
    String text = TextFormat.printer().shortDebugString(clean);
    return stripped.isEmpty() ? "{" + text.strip() + "}" : "{" + text.strip() + "} " + stripped;
  }

  /** A copy of {@code m} without secret fields; names them in {@code stripped}. */
  private static Message strip(Message m, String prefix, List<String> stripped) {
    Message.Builder b = null;
    for (Map.Entry<FieldDescriptor, Object> e : m.getAllFields().entrySet()) {
      FieldDescriptor f = e.getKey();
      if (f.getOptions().getExtension(Csi.csiSecret)) {
        if (b == null) {
          b = m.toBuilder();
        }
        // A secret map cannot hold a marker string, so the field goes and its name is logged.
        b.clearField(f);
        stripped.add(prefix + f.getName() + "=" + STRIPPED);
      } else if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE && !f.isRepeated()) {
        Message inner = (Message) e.getValue();
        Message cleanInner = strip(inner, prefix + f.getName() + ".", stripped);
        if (cleanInner != inner) {
          if (b == null) {
            b = m.toBuilder();
          }
          b.setField(f, cleanInner);
        }
      }
    }
    return b == null ? m : b.build();
  }
}
