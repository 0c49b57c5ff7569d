// RUN: canonicalize

// transpose(transpose(x, p), q) composes to transpose(x, p[q]); the identity disappears.
// CHECK-LABEL: func.func @transposes
// CHECK: [[T:%\d+]] = "tir.transpose"(%arg0) {perm = [2, 0, 1]}
// CHECK-NOT: "tir.transpose"
// CHECK: "func.return"(%arg0, [[T]])
func.func @transposes(%arg0: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<4x2x3xf32>) {
  %0 = "tir.transpose"(%arg0) {perm = [1, 0, 2]} : (tensor<2x3x4xf32>) -> tensor<3x2x4xf32>
  %1 = "tir.transpose"(%0) {perm = [1, 0, 2]} : (tensor<3x2x4xf32>) -> tensor<2x3x4xf32>
  %2 = "tir.transpose"(%arg0) {perm = [1, 2, 0]} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %3 = "tir.transpose"(%2) {perm = [1, 2, 0]} : (tensor<3x4x2xf32>) -> tensor<4x2x3xf32>
  "func.return"(%1, %3) : (tensor<2x3x4xf32>, tensor<4x2x3xf32>) -> ()
}

// -----

// reshape chains collapse; a reshape back to the operand's shape disappears.
// CHECK-LABEL: func.func @reshapes
// CHECK: [[R:%\d+]] = "tir.reshape"(%arg0) {shape = [4, 3]}
// CHECK-NOT: "tir.reshape"
// CHECK: "func.return"([[R]], %arg0)
func.func @reshapes(%arg0: tensor<2x6xf32>) -> (tensor<4x3xf32>, tensor<2x6xf32>) {
  %0 = "tir.reshape"(%arg0) {shape = [12]} : (tensor<2x6xf32>) -> tensor<12xf32>
  %1 = "tir.reshape"(%0) {shape = [4, 3]} : (tensor<12xf32>) -> tensor<4x3xf32>
  %2 = "tir.reshape"(%1) {shape = [2, 6]} : (tensor<4x3xf32>) -> tensor<2x6xf32>
  "func.return"(%1, %2) : (tensor<4x3xf32>, tensor<2x6xf32>) -> ()
}

// -----

// broadcast(broadcast(x)) is one broadcast; a keepdims reshape before a broadcast folds into
// its dims; a broadcast to the operand's own shape disappears.
// CHECK-LABEL: func.func @broadcasts
// CHECK: "tir.broadcast"(%arg0) {shape = [2, 3, 4], dims = [1]}
// CHECK: "tir.broadcast"(%arg1) {shape = [3, 4], dims = [0]}
// CHECK-NOT: "tir.reshape"
// CHECK-NOT: "tir.broadcast"
// CHECK: "func.return"({{%\d+}}, {{%\d+}}, %arg1)
func.func @broadcasts(%arg0: tensor<3xf32>, %arg1: tensor<3xf32>) -> (tensor<2x3x4xf32>, tensor<3x4xf32>, tensor<3xf32>) {
  %0 = "tir.broadcast"(%arg0) {shape = [3, 4], dims = [0]} : (tensor<3xf32>) -> tensor<3x4xf32>
  %1 = "tir.broadcast"(%0) {shape = [2, 3, 4], dims = [1, 2]} : (tensor<3x4xf32>) -> tensor<2x3x4xf32>
  %2 = "tir.reshape"(%arg1) {shape = [3, 1]} : (tensor<3xf32>) -> tensor<3x1xf32>
  %3 = "tir.broadcast"(%2) {shape = [3, 4], dims = [0, 1]} : (tensor<3x1xf32>) -> tensor<3x4xf32>
  %4 = "tir.broadcast"(%arg1) {shape = [3], dims = [0]} : (tensor<3xf32>) -> tensor<3xf32>
  "func.return"(%1, %3, %4) : (tensor<2x3x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> ()
}

// -----

// A reshape that reorders sizes is not a keepdims reshape: it stays.
// CHECK-LABEL: func.func @reshape_not_expand
// CHECK: "tir.reshape"(%arg0) {shape = [3, 2]}
// CHECK-NEXT: "tir.broadcast"
func.func @reshape_not_expand(%arg0: tensor<2x3xf32>) -> tensor<3x2x5xf32> {
  %0 = "tir.reshape"(%arg0) {shape = [3, 2]} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %1 = "tir.broadcast"(%0) {shape = [3, 2, 5], dims = [0, 1]} : (tensor<3x2xf32>) -> tensor<3x2x5xf32>
  "func.return"(%1) : (tensor<3x2x5xf32>) -> ()
}

// -----

// slice(slice(x)) composes starts and steps (negative steps too); a whole slice disappears.
// CHECK-LABEL: func.func @slices
// CHECK: "tir.slice"(%arg0) {starts = [7, 1], steps = [-2, 1], sizes = [3, 2]}
// CHECK-NOT: "tir.slice"
// CHECK: "func.return"({{%\d+}}, %arg0)
func.func @slices(%arg0: tensor<10x4xf32>) -> (tensor<3x2xf32>, tensor<10x4xf32>) {
  %0 = "tir.slice"(%arg0) {starts = [9, 0], steps = [-1, 1], sizes = [10, 4]} : (tensor<10x4xf32>) -> tensor<10x4xf32>
  %1 = "tir.slice"(%0) {starts = [2, 1], steps = [2, 1], sizes = [3, 2]} : (tensor<10x4xf32>) -> tensor<3x2xf32>
  %2 = "tir.slice"(%arg0) {starts = [0, 0], steps = [1, 1], sizes = [10, 4]} : (tensor<10x4xf32>) -> tensor<10x4xf32>
  "func.return"(%1, %2) : (tensor<3x2xf32>, tensor<10x4xf32>) -> ()
}

// -----

// An elementwise op of one operand moves above a broadcast or reshape: exp runs on 3 elements,
// not 12, and the cast of a scalar happens once.
// CHECK-LABEL: func.func @unary_before_movement
// CHECK: [[E:%\d+]] = "tir.exp"(%arg0) : (tensor<3xf32>)
// CHECK-NEXT: "tir.broadcast"([[E]]) {shape = [3, 4], dims = [0]}
// CHECK: [[C:%\d+]] = "tir.cast"(%arg1) {dtype = f32} : (tensor<f64>) -> tensor<f32>
// CHECK-NEXT: "tir.broadcast"([[C]])
// CHECK: [[L:%\d+]] = "tir.log"(%arg0) : (tensor<3xf32>)
// CHECK-NEXT: "tir.reshape"([[L]]) {shape = [3, 1]}
func.func @unary_before_movement(%arg0: tensor<3xf32>, %arg1: tensor<f64>) -> (tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x1xf32>) {
  %0 = "tir.broadcast"(%arg0) {shape = [3, 4], dims = [0]} : (tensor<3xf32>) -> tensor<3x4xf32>
  %1 = "tir.exp"(%0) : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %2 = "tir.broadcast"(%arg1) {shape = [3, 4], dims = []} : (tensor<f64>) -> tensor<3x4xf64>
  %3 = "tir.cast"(%2) {dtype = f32} : (tensor<3x4xf64>) -> tensor<3x4xf32>
  %4 = "tir.reshape"(%arg0) {shape = [3, 1]} : (tensor<3xf32>) -> tensor<3x1xf32>
  %5 = "tir.log"(%4) : (tensor<3x1xf32>) -> tensor<3x1xf32>
  "func.return"(%1, %3, %5) : (tensor<3x4xf32>, tensor<3x4xf32>, tensor<3x1xf32>) -> ()
}

// -----

// Dynamic dims: movement chains still compose.
// CHECK-LABEL: func.func @dynamic
// CHECK-NOT: "tir.transpose"
// CHECK: "tir.reshape"(%arg1) {shape = [4, 2]}
// CHECK-NEXT: "func.return"(%arg0, {{%\d+}})
func.func @dynamic(%arg0: tensor<?x4xf32>, %arg1: tensor<2x4xf32>) -> (tensor<?x4xf32>, tensor<4x2xf32>) {
  %0 = "tir.transpose"(%arg0) {perm = [1, 0]} : (tensor<?x4xf32>) -> tensor<4x?xf32>
  %1 = "tir.transpose"(%0) {perm = [1, 0]} : (tensor<4x?xf32>) -> tensor<?x4xf32>
  %2 = "tir.reshape"(%arg1) {shape = [8]} : (tensor<2x4xf32>) -> tensor<8xf32>
  %3 = "tir.reshape"(%2) {shape = [4, 2]} : (tensor<8xf32>) -> tensor<4x2xf32>
  "func.return"(%1, %3) : (tensor<?x4xf32>, tensor<4x2xf32>) -> ()
}
