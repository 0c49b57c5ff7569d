module {
  func.func @stats(%arg0: tensor<3x4xf64>, %arg1: tensor<4x3xf64>) -> (tensor<3x4xf64>, tensor<3xf64>) {
    %0 = "tir.transpose"(%arg1) {perm = [1, 0]} : (tensor<4x3xf64>) -> tensor<3x4xf64> loc("model_script.py":16:12)
    %1 = "tir.mul"(%arg0, %0) : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64> loc("model_script.py":16:8)
    %2 = "tir.reduce_sum"(%1) {axes = [1]} : (tensor<3x4xf64>) -> tensor<3xf64> loc("model_script.py":17:22)
    %3 = "tir.sqrt"(%2) : (tensor<3xf64>) -> tensor<3xf64> loc("model_script.py":17:14)
    "func.return"(%1, %3) : (tensor<3x4xf64>, tensor<3xf64>) -> () loc("model_script.py":15:0)
  }
  func.func @mlp(%arg0: tensor<4x3xf32>, %arg1: tensor<3x2xf32>, %arg2: tensor<2xf32>) -> tensor<4x2xf32> {
    %0 = "tir.matmul"(%arg0, %arg1) : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32> loc("model_script.py":7:22)
    %1 = "tir.broadcast"(%arg2) {shape = [4, 2], dims = [1]} : (tensor<2xf32>) -> tensor<4x2xf32> loc("model_script.py":7:22)
    %2 = "tir.add"(%0, %1) : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x2xf32> loc("model_script.py":7:22)
    %3 = "tir.constant"() {value = dense<0.0> : tensor<4x2xf32>} : () -> tensor<4x2xf32> loc("model_script.py":7:11)
    %4 = "tir.max"(%2, %3) : (tensor<4x2xf32>, tensor<4x2xf32>) -> tensor<4x2xf32> loc("model_script.py":7:11)
    "func.return"(%4) : (tensor<4x2xf32>) -> () loc("model_script.py":6:0)
  }
}
