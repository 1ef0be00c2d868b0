package io.layerns.operator.membership;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Which nodes belong to which LayerNamespace. A node belongs to the namespace whose node selector
 * matches its labels; a node matched by two namespaces belongs to neither, and both report it,
 * because guessing would silently move a node's layers between pools.
 */
public final class Membership {

  /** A node as membership sees it. */
  public record NodeLabels(String name, Map<String, String> labels) {}

  /** A namespace's name and node selector (empty matches every node). */
  public record Selector(String namespace, Map<String, String> nodeSelector) {
    boolean matches(NodeLabels node) {
      if (nodeSelector == null) {
        return true;
      }
      Map<String, String> labels = node.labels() == null ? Map.of() : node.labels();
      return nodeSelector.entrySet().stream()
          .allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
    }
  }

  /** Members of each namespace and, per conflicting node, the namespaces that all claim it. */
  public record Result(
      SortedMap<String, SortedSet<String>> members,
      SortedMap<String, SortedSet<String>> conflicts) {

    public SortedSet<String> membersOf(String namespace) {
      return members.getOrDefault(namespace, new TreeSet<>());
    }

    /** Conflicting nodes that {@code namespace} selects, sorted. */
    public List<String> conflictsOf(String namespace) {
      List<String> nodes = new ArrayList<>();
      conflicts.forEach(
          (node, namespaces) -> {
            if (namespaces.contains(namespace)) {
              nodes.add(node);
            }
          });
      return nodes;
    }

    /** The namespace a node belongs to, or null. */
    public String namespaceOf(String node) {
      for (var e : members.entrySet()) {
        if (e.getValue().contains(node)) {
          return e.getKey();
        }
      }
      return null;
    }
  }

  private Membership() {}

  public static Result compute(Collection<Selector> namespaces, Collection<NodeLabels> nodes) {
    SortedMap<String, SortedSet<String>> members = new TreeMap<>();
    SortedMap<String, SortedSet<String>> conflicts = new TreeMap<>();
    namespaces.forEach(ns -> members.put(ns.namespace(), new TreeSet<>()));
    for (NodeLabels node : nodes) {
      SortedSet<String> claimants = new TreeSet<>();
      for (Selector ns : namespaces) {
        if (ns.matches(node)) {
          claimants.add(ns.namespace());
        }
      }
      if (claimants.size() == 1) {
        members.get(claimants.first()).add(node.name());
      } else if (claimants.size() > 1) {
        conflicts.put(node.name(), claimants);
      }
    }
    return new Result(members, conflicts);
  }
}
